"""The knapsack over the layer graph as a mixed-integer program, solved by HiGHS.

Used on the options that survive the Lagrangian reduction when the Pareto DP gives up,
and on the whole problem when the layer graph is too wide for bucket elimination.

Variables
  x[g, i]  binary, group g keeps counts[g][i]; exactly one per group.
  z[s, t]  binary, for an axis made of several groups (after a Concat): the axis keeps
           sums[s][t] elements; exactly one per axis, and sum_t sums[t] z[s, t] equals the
           sum of its groups' kept elements (a linear equation in the x).
  y[b, i, j]  continuous in [0, 1], for each pair (input axis, output axis) that some
           layer couples: the joint choice. Its row sums equal the input axis's one-hot and
           its column sums the output axis's one-hot, so whenever the one-hots are integral
           y is the indicator of exactly (i, j) and needs no integrality of its own.
Objective: the kept saliency, sum of values[g][i] x[g, i].
Budget: sum over layers of cost(in_i, out_j) y[b, i, j] (or of the one-axis cost on x or z
           when a layer's cost depends on one axis only) <= budget - the cost no choice
           changes.

Any cost table is represented exactly: nothing is assumed about the cost's shape
(monotone, convex, bilinear). Size: one y column per pair of options of every coupled
pair of axes (about 56k for the whole of resnet50 with 16-channel steps, where HiGHS needs
seconds for the root LP alone; a few hundred after the reduction). HiGHS proves
optimality to an absolute gap of 1e-9 of the total saliency; the budget row is held to a
1e-9 relative tolerance and every answer is re-checked with the exact costs (an answer
over budget by rounding is cut off and the program re-solved). Programs of more than
IN_PROCESS_COLUMNS columns are solved in a child process, stopped if HiGHS overruns its time
limit (highs_child.py).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .highs_child import solve, solve_in_child
from .problem import Problem, Side, Term

MAX_COLUMNS = 3_000_000  # larger programs are refused before any cost is evaluated
GAP_TOLERANCE = 1e-9  # absolute, on the objective normalised by the total saliency
FEASIBILITY_TOLERANCE = 1e-9  # on the budget row normalised by the dense cost
MAX_RECHECKS = 5
IN_PROCESS_COLUMNS = 50_000  # larger programs are solved in a process that can be stopped (highs_child)


@dataclass
class MilpOutcome:
    status: str  # "optimal" | "feasible" (time limit, incumbent found) | "infeasible" | "unknown"
    counts: dict[str, int] | None
    bound: float | None  # proven upper bound on the kept saliency (None: none known)
    message: str
    columns: int = 0
    rows: int = 0


class ProgramTooLarge(Exception):
    """The program would have more than MAX_COLUMNS columns."""


@dataclass
class _Axis:
    """A one-hot family of columns, and the kept elements each column stands for."""

    columns: np.ndarray
    elements: np.ndarray


class _Program:
    """Columns and rows of the MILP, built up term by term."""

    def __init__(self) -> None:
        self.n = 0
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.integral: list[np.ndarray] = []
        self.rows: list[tuple[np.ndarray, np.ndarray, float, float]] = []

    def add_columns(self, count: int, integral: bool) -> np.ndarray:
        cols = np.arange(self.n, self.n + count)
        self.n += count
        self.lower.append(np.zeros(count))
        self.upper.append(np.ones(count))
        self.integral.append(np.full(count, 1 if integral else 0))
        return cols

    def add_row(self, cols, coefs, lo: float, hi: float) -> None:
        self.rows.append((np.asarray(cols, dtype=np.int64), np.asarray(coefs, dtype=float), lo, hi))

    def matrix(self) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
        indptr = np.zeros(len(self.rows) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(c) for c, _, _, _ in self.rows])
        indices = np.concatenate([c for c, _, _, _ in self.rows]) if self.rows else np.zeros(0, np.int64)
        data = np.concatenate([v for _, v, _, _ in self.rows]) if self.rows else np.zeros(0)
        a = sparse.csr_matrix((data, indices, indptr), shape=(len(self.rows), self.n))
        lo = np.array([r[2] for r in self.rows])
        hi = np.array([r[3] for r in self.rows])
        return a, lo, hi


class _Formulation:
    def __init__(self, problem: Problem):
        self.problem = problem
        self.program = _Program()
        self.choice: dict[str, np.ndarray] = {}
        self.axes: dict[Side, _Axis | None] = {}
        self.budget_coef: dict[int, float] = {}
        self.pairs: dict[tuple[int, int], tuple[_Axis, _Axis, np.ndarray]] = {}
        self.pair_columns = 0
        for g, counts in problem.counts.items():
            cols = self.program.add_columns(len(counts), integral=True)
            self.choice[g] = cols
            self.program.add_row(cols, np.ones(len(cols)), 1.0, 1.0)
        for term in problem.terms:
            self._add_term(term)
        self._add_pairs()

    # ---------------------------------------------------------------- axes
    def _axis(self, side: Side) -> _Axis | None:
        """The one-hot family a side's kept elements are read from (None: constant)."""
        if side in self.axes:
            return self.axes[side]
        if not side.groups:
            axis = None
        elif len(side.groups) == 1:
            g, per = side.groups[0]
            axis = _Axis(self.choice[g], side.fixed + per * self.problem.counts[g])
        else:
            axis = self._sum_axis(side)
        self.axes[side] = axis
        return axis

    def _sum_axis(self, side: Side) -> _Axis:
        sums = np.array([side.fixed])
        for g, per in side.groups:
            sums = np.unique((sums[:, None] + per * self.problem.counts[g][None, :]).ravel())
        cols = self.program.add_columns(len(sums), integral=True)
        self.program.add_row(cols, np.ones(len(cols)), 1.0, 1.0)
        link_cols, link_coefs = [cols], [sums.astype(float)]
        for g, per in side.groups:
            link_cols.append(self.choice[g])
            link_coefs.append(-float(per) * self.problem.counts[g])
        self.program.add_row(np.concatenate(link_cols), np.concatenate(link_coefs),
                             float(side.fixed), float(side.fixed))
        return _Axis(cols, sums)

    # ---------------------------------------------------------------- terms
    def _add_term(self, term: Term) -> None:
        ids = term.group_ids()
        if not ids:
            return
        if len(ids) == 1:
            g = ids[0]
            costs = [term(term.inputs.kept({g: int(c)}), term.outputs.kept({g: int(c)}))
                     for c in self.problem.counts[g]]
            self._add_unary(self.choice[g], np.array(costs))
            return
        a, b = self._axis(term.inputs), self._axis(term.outputs)
        if a is None or b is None or a.columns is b.columns:
            # one family decides both axes (one may be constant): a cost on that family
            axis = b if a is None else a
            n = len(axis.columns)
            ins = np.broadcast_to(term.inputs.fixed if a is None else a.elements, (n,))
            outs = np.broadcast_to(term.outputs.fixed if b is None else b.elements, (n,))
            self._add_unary(axis.columns, np.array([term(int(i), int(j)) for i, j in zip(ins, outs)]))
            return
        self.pair_columns += len(a.elements) * len(b.elements)
        if self.pair_columns > MAX_COLUMNS:
            raise ProgramTooLarge(f"more than {MAX_COLUMNS} pair columns")
        table = np.array([[term(int(i), int(j)) for j in b.elements] for i in a.elements])
        key = (id(a), id(b))
        if (id(b), id(a)) in self.pairs:  # the same two axes, the other way round
            key, table = (id(b), id(a)), table.T
            a, b = b, a
        if key in self.pairs:
            table = table + self.pairs[key][2]
        self.pairs[key] = (a, b, table)

    def _add_unary(self, cols: np.ndarray, costs: np.ndarray) -> None:
        for col, cost in zip(cols.tolist(), costs.tolist()):
            self.budget_coef[col] = self.budget_coef.get(col, 0.0) + cost

    def _add_pairs(self) -> None:
        scale = max(abs(self.problem.dense_cost), 1e-300)
        for a, b, table in self.pairs.values():
            rows, cols = table[:, :1], table[:1, :]
            if np.allclose(table, rows + cols - table[0, 0], rtol=0, atol=1e-13 * scale):
                self._add_unary(a.columns, rows[:, 0])  # separable: no joint choice needed
                self._add_unary(b.columns, cols[0] - table[0, 0])
                continue
            y = self.program.add_columns(table.size, integral=False).reshape(table.shape)
            for i in range(table.shape[0]):
                self.program.add_row(np.append(y[i], a.columns[i]),
                                     np.append(np.ones(table.shape[1]), -1.0), 0.0, 0.0)
            for j in range(table.shape[1]):
                self.program.add_row(np.append(y[:, j], b.columns[j]),
                                     np.append(np.ones(table.shape[0]), -1.0), 0.0, 0.0)
            for col, cost in zip(y.ravel().tolist(), table.ravel().tolist()):
                self.budget_coef[col] = cost

    # ---------------------------------------------------------------- solve
    def objective(self) -> tuple[np.ndarray, float]:
        scale = self.problem.max_value() or 1.0
        c = np.zeros(self.program.n)
        for g, cols in self.choice.items():
            c[cols] = -self.problem.values[g] / scale
        return c, scale

    def budget_row(self, budget: float) -> tuple[np.ndarray, np.ndarray, float]:
        p = self.problem
        scale = max(abs(p.dense_cost), 1e-300)
        base = p.base_cost()
        cols = np.fromiter(self.budget_coef, dtype=np.int64, count=len(self.budget_coef))
        coefs = np.fromiter(self.budget_coef.values(), dtype=float, count=len(self.budget_coef))
        return cols, coefs / scale, (budget - base) / scale

    def decode(self, x: np.ndarray) -> dict[str, int]:
        return {g: int(self.problem.counts[g][int(np.argmax(x[cols]))])
                for g, cols in self.choice.items()}


def solve_milp(problem: Problem, time_limit: float = 30.0) -> MilpOutcome:
    """Maximise kept saliency within the budget; `time_limit` in seconds for HiGHS."""
    start = time.perf_counter()
    form = _Formulation(problem)
    c, value_scale = form.objective()
    cols, coefs, rhs = form.budget_row(problem.budget)
    form.program.add_row(cols, coefs, -math.inf, rhs)
    cuts = 0
    while True:
        remaining = time_limit - (time.perf_counter() - start)
        result = _run_highs(form, c, max(remaining, 0.01))
        if result.x is None:
            status = "infeasible" if result.status == 2 else "unknown"
            bound = _bound(result, value_scale)
            return MilpOutcome(status, None, bound, result.message, form.program.n, len(form.program.rows))
        counts = form.decode(result.x)
        if problem.within_budget(problem.cost(counts)) or cuts >= MAX_RECHECKS:
            break
        # Over budget by the solver's tolerance: forbid this exact choice and solve again.
        chosen = [int(form.choice[g][int(np.searchsorted(problem.counts[g], k))]) for g, k in counts.items()]
        form.program.add_row(chosen, np.ones(len(chosen)), -math.inf, len(chosen) - 1)
        cuts += 1
    status = "optimal" if result.status == 0 else "feasible"
    bound = problem.value(counts) if status == "optimal" else _bound(result, value_scale)
    message = result.message + (f" ({cuts} tolerance re-solves)" if cuts else "")
    return MilpOutcome(status, counts, bound, message, form.program.n, len(form.program.rows))


def min_cost_counts(problem: Problem, time_limit: float = 30.0) -> dict[str, int] | None:
    """The choice with the least predicted cost, whatever it keeps (for infeasible budgets)."""
    form = _Formulation(problem)
    cols, coefs, _ = form.budget_row(problem.budget)
    c = np.zeros(form.program.n)
    c[cols] = coefs
    result = _run_highs(form, c, time_limit)
    return None if result.x is None else form.decode(result.x)


def _run_highs(form: _Formulation, c: np.ndarray, time_limit: float):
    a, lo, hi = form.program.matrix()
    options = {"time_limit": float(time_limit), "mip_rel_gap": 0.0, "presolve": True,
               # passed through to HiGHS verbatim
               "mip_abs_gap": GAP_TOLERANCE, "mip_feasibility_tolerance": FEASIBILITY_TOLERANCE,
               "primal_feasibility_tolerance": FEASIBILITY_TOLERANCE, "threads": 1,
               "random_seed": 0}
    program = {"c": c, "integrality": np.concatenate(form.program.integral),
               "lower": np.concatenate(form.program.lower), "upper": np.concatenate(form.program.upper),
               "a": a, "lo": lo, "hi": hi, "options": options}
    if form.program.n > IN_PROCESS_COLUMNS:
        return solve_in_child(program)
    with _native_output_silenced():
        return solve(program)


@contextlib.contextmanager
def _native_output_silenced():
    """Some HiGHS builds print debug lines from C++ straight to the process's stdout and
    stderr ("HighsMipSolverData::transformNewIntegerFeasibleSolution ..."), past any
    Python-level redirection; point both file descriptors at /dev/null while it runs."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    saved = []
    try:
        try:
            with open(os.devnull, "w") as null:
                for fd in (1, 2):
                    saved.append((fd, os.dup(fd)))
                    os.dup2(null.fileno(), fd)
        except OSError:
            pass  # no such descriptor (a daemon): nothing to silence
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


def _bound(result, value_scale: float) -> float | None:
    bound = getattr(result, "mip_dual_bound", None)
    if bound is None or not np.isfinite(bound):
        return None
    return -float(bound) * value_scale
