"""Solve, rewrite, measure, correct: the loop that makes the budget hold on the target.

The LUT predicts a plan's latency; the rewritten model is then timed on the target,
interleaved with the dense model so both see the same machine state. When the measured
latency misses the goal window [goal * (1 - tolerance), goal], the solver's budget (in
predicted milliseconds) is corrected and the knapsack solved again: scaled by how far off
the measurement was, aiming just below the goal, or, once one round landed under the
window and one over it, interpolated between their budgets (latency moves in steps, so a
plain rescale can hop back and forth over the window). A few rounds at most, every one
reported. A round that lands inside the window, or within one window's width of it, is
measured once more with new sessions of both models and judged on the mean of the two
(`_confirm`), before the next budget is computed from it: a new pair of sessions can time
the same models a few percent apart, more than the window is wide, and one low reading
taken at face value would steer every later budget. When no plan fits a round's budget,
the cheapest plan is measured all the same (the table may price it too high), unless one
as cheap was measured already. The kept round is the best-scoring one inside the window,
else the best one under the goal, else the fastest.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from ..graph.capture_onnx import LoadedModel, as_loaded
from ..graph.groups import GroupSet
from ..latency.backends import open_backend
from ..latency.whole_model import time_interleaved
from ..plan import PruningPlan
from ..solver import make_plan, solve_problem
from .shape_profiles import fixed_for, per_shape_rows, weighted

AIM = 0.99  # aim this far inside the goal: a fresh measurement wobbles by about 1%
OVER = 0.005  # measured up to this much over the goal still counts as on target


@dataclass
class Round:
    index: int
    budget_ms: float  # the solver's budget, in predicted milliseconds
    status: str
    predicted_ms: float
    objective: float
    max_objective: float
    solve_time_s: float
    counts: dict
    plan: PruningPlan | None = None
    model: LoadedModel | None = None
    measured_ms: float | None = None
    measured_dense_ms: float | None = None
    achieved: float | None = None  # in the goal's unit: fraction of dense, or ms
    on_target: bool = False
    details: dict = field(default_factory=dict)
    fidelity: dict | None = None  # of the rewritten model, before any reconstruction
    pairs: list = field(default_factory=list)  # (pruned ms, dense ms) per pair of sessions measured

    @classmethod
    def solved(cls, index: int, budget_ms: float, result) -> "Round":
        """A round holding the solver's result at `budget_ms`, nothing rewritten yet."""
        return cls(index, budget_ms, result.status, result.predicted_cost, result.objective,
                   result.max_objective, result.solve_time_s, dict(result.counts),
                   details={k: v for k, v in result.to_json().items() if k != "kept_counts"})

    def to_json(self) -> dict:
        return {"round": self.index, "solver_budget_ms": self.budget_ms, "status": self.status,
                "predicted_ms": self.predicted_ms, "measured_ms": self.measured_ms,
                "measured_dense_ms": self.measured_dense_ms, "achieved": self.achieved,
                "session_pairs": len(self.pairs),
                "on_target": self.on_target, "kept_saliency": self.objective / self.max_objective
                if self.max_objective else 1.0, "solve_time_s": self.solve_time_s,
                "solver": self.details, "fidelity": self.fidelity}


def run_loop(problem, groups: GroupSet, scores, model: LoadedModel, rewrite, target, *,
             goal: float, relative: bool, measurable: bool, method: str, time_limit: float,
             max_rounds: int, tolerance: float, measure_rounds: int, log,
             assess=None, start_budget: float | None = None,
             profiles=None) -> tuple[Round, list[Round]]:
    """`goal` is a fraction of the dense latency (relative) or milliseconds; `rewrite(plan)`
    returns the pruned model; `assess(model)`, when given, measures each round's fidelity.
    start_budget: the first round's solver budget in predicted ms (default: the goal).
    profiles: shape profiles (input_shapes.ShapeProfile) the latency is the weighted sum
    over; each round then records its latency per shape."""
    dense_pred = problem.dense_cost
    budget = goal * dense_pred if relative else goal
    if start_budget is not None:
        budget = start_budget
    rounds: list[Round] = []
    with DenseTimer(target, model, profiles) if measurable else contextlib.nullcontext() as timer:
        for index in range(1, max_rounds + 1):
            result = solve_problem(problem.with_budget(budget), method=method, time_limit=time_limit)
            r = Round.solved(index, budget, result)
            rounds.append(r)
            if not result.feasible and (timer is None or not result.counts or any(
                    x.plan is not None and x.predicted_ms <= result.predicted_cost for x in rounds)):
                log(f"round {index}: no plan fits {budget:.2f} ms predicted ({result.message})")
                break
            if not result.feasible:  # the table may price it too high: measure it
                log(f"round {index}: no plan fits {budget:.2f} ms predicted; the cheapest, "
                    f"{result.predicted_cost:.2f} ms predicted, is measured")
            r.plan = make_plan(groups, scores, result.counts)
            r.model = rewrite(r.plan)
            if assess is not None:
                r.fidelity = assess(r.model)
            if timer is None:
                r.achieved = result.predicted_cost / dense_pred if relative else result.predicted_cost
                r.on_target = True
                log(f"round {index}: predicted {result.predicted_cost:.2f} ms (not measurable here)")
                break
            start = time.perf_counter()
            _record(r, timer, *timer.measure(r.model, measure_rounds))
            _judge(r, goal, tolerance, relative)
            first = r.achieved
            confirmed = ""
            if _confirm(r, timer, goal, tolerance, relative, measure_rounds):
                confirmed = f", {len(r.pairs)} session pairs, the first {_fmt(first, relative)}"
            solver = "" if result.status == "optimal" else f" ({result.message})"
            log(f"round {index}: solver budget {budget:.2f} ms, predicted {result.predicted_cost:.2f} ms{solver}, "
                f"measured {r.measured_ms:.2f} ms of {r.measured_dense_ms:.2f} dense "
                f"({_fmt(r.achieved, relative)} vs goal {_fmt(goal, relative)})"
                f"{' on target' if r.on_target else ''}{_agreement(r.fidelity)} "
                f"[{time.perf_counter() - start:.1f}s timing{confirmed}]")
            if r.on_target:
                break
            # a round no plan fitted measured the cheapest plan: its budget is that plan's cost
            budget = next_budget([(max(x.budget_ms, x.predicted_ms) if x.status == "infeasible" else x.budget_ms,
                                   x.achieved) for x in rounds if x.achieved is not None], AIM * goal)
    return _choose(rounds, goal), rounds


def _record(r: Round, timer, dense_t, pruned_t) -> None:
    """Add one pair of sessions' timings to `r` (with shape profiles, its per-shape rows)."""
    r.pairs.append((pruned_t.median_ms, dense_t.median_ms))
    if timer.profiles:
        r.details["per_shape"] = per_shape_rows(timer.profiles, dense_t, pruned_t)


def _judge(r: Round, goal: float, tolerance: float, relative: bool) -> None:
    """Judge `r` on the mean over its session pairs."""
    r.measured_ms = sum(p for p, _ in r.pairs) / len(r.pairs)
    r.measured_dense_ms = sum(d for _, d in r.pairs) / len(r.pairs)
    r.achieved = _achieved(r.pairs, relative)
    r.on_target = _in_window(r.achieved, goal, tolerance)


def _confirm(r: Round, timer, goal: float, tolerance: float, relative: bool,
             measure_rounds: int) -> bool:
    """When `r`'s reading is inside the window or within one window's width of it, time
    it once more with new sessions of both models and judge it on the mean of the two
    pairs; returns whether it was timed again."""
    width = goal * tolerance
    if not goal * (1 - tolerance) - width <= r.achieved <= goal * (1 + OVER) + width:
        return False
    _record(r, timer, *timer.measure_fresh(r.model, measure_rounds))
    _judge(r, goal, tolerance, relative)
    return True


class DenseTimer:
    """One backend and one warm session of the dense model for all rounds; each round's
    pruned model is timed interleaved with it. With shape profiles, one dense session per
    profile, the pruned model timed at each profile's shape, and the weighted sums
    returned (profiles.WeightedTiming, per-profile timings included)."""

    def __init__(self, target, dense_model, profiles=None):
        self.target, self.dense_model = target, dense_model
        self.profiles = list(profiles or [])

    def _dense_models(self):
        if not self.profiles:
            return [as_loaded(self.dense_model)]
        return fixed_for(as_loaded(self.dense_model), self.profiles)

    def __enter__(self):
        self.backend = open_backend(self.target)
        try:
            self.dense = [self.backend.runner(m) for m in self._dense_models()]
        except BaseException:
            self.backend.close()
            raise
        return self

    def __exit__(self, *exc):
        self.backend.close()

    def measure(self, pruned, rounds: int):
        return self._time(self.dense, pruned, rounds)

    def measure_fresh(self, pruned, rounds: int):
        """The same with new sessions of both models: a new pair of sessions can time the
        same models a few percent differently, which one pair cannot average out."""
        return self._time([self.backend.runner(m) for m in self._dense_models()], pruned, rounds)

    def _time(self, dense_runners, pruned, rounds: int):
        if not self.profiles:
            return time_interleaved([dense_runners[0], self.backend.runner(as_loaded(pruned))], rounds)
        pairs = [time_interleaved([d, self.backend.runner(m)], rounds)
                 for d, m in zip(dense_runners, fixed_for(as_loaded(pruned), self.profiles))]
        weights = [p.weight for p in self.profiles]
        return weighted([d for d, _ in pairs], weights), weighted([q for _, q in pairs], weights)


def _in_window(achieved: float, goal: float, tolerance: float) -> bool:
    return goal * (1 - tolerance) <= achieved <= goal * (1 + OVER)


def _achieved(pairs: list[tuple[float, float]], relative: bool) -> float:
    """The measured result over (pruned ms, dense ms) pairs: mean ratio, or mean ms."""
    values = [p / d if relative else p for p, d in pairs]
    return sum(values) / len(values)


def next_budget(tried: list[tuple[float, float]], aim: float) -> float:
    """The next budget from (budget, achieved) of the runs so far: interpolated between
    the highest-budget run under `aim` and the lowest-budget one at or over it when they
    bracket it (latency moves in steps: a plain rescale can hop back and forth over the
    aim), else the last budget rescaled by its miss."""
    under = [t for t in tried if t[1] < aim]
    over = [t for t in tried if t[1] >= aim]
    if under and over:
        (b0, a0), (b1, a1) = max(under, key=lambda t: t[0]), min(over, key=lambda t: t[0])
        if b0 < b1 and a1 > a0:
            return b0 + (aim - a0) / (a1 - a0) * (b1 - b0)
    budget, achieved = tried[-1]
    return budget * aim / achieved


def _agreement(fidelity: dict | None) -> str:
    if not fidelity or fidelity.get("agreement") is None:
        return ""
    return f", agreement {100 * fidelity['agreement']:.1f}% before reconstruction"


def _fmt(value: float, relative: bool) -> str:
    return f"{value:.3f}x" if relative else f"{value:.2f} ms"


def status_of(chosen: Round, goal: float) -> str:
    if chosen.plan is None:
        return "infeasible"
    if chosen.on_target:
        return "on target"
    return "over budget" if chosen.achieved > goal * (1 + OVER) else "under budget"


def _choose(rounds: list[Round], goal: float) -> Round:
    done = [r for r in rounds if r.plan is not None]
    if not done:
        return rounds[-1]
    inside = [r for r in done if r.on_target]
    if inside:
        return max(inside, key=lambda r: r.objective)
    under = [r for r in done if r.achieved is not None and r.achieved <= goal]
    if under:
        return max(under, key=lambda r: r.objective)
    return min(done, key=lambda r: r.achieved if r.achieved is not None else float("inf"))
