"""A proven bound on the best kept saliency, and the options that can still reach it.

Relaxing the budget with a price lam gives, for every lam >= 0, an upper bound

    L(lam) = lam * budget + max over all choices of (value - lam * cost)

whose inner maximum is solved exactly by bucket elimination over the layer graph. L is
convex and piecewise linear in lam; we minimise it by intersecting the lines of the best
feasible and best infeasible choices seen so far (each evaluation either finds a new line
or proves the intersection optimal), collecting feasible choices as incumbents on the
way. With the best lam, the max-marginal of option i of group g bounds every feasible
choice that uses it: options whose bound falls below the incumbent cannot be optimal and
are dropped. What survives is usually a handful of options per group, which the Pareto DP
(or the MILP) then searches exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .elimination import EliminationTree, elimination_order
from .factor_graph import KnapsackFactors, group_var
from .local_search import fill, repair
from .problem import Problem

BOUND_TOLERANCE = 1e-9  # on values normalised by the total saliency
MAX_EVALUATIONS = 100
LOCAL_SEARCH_STARTS = 4  # maximisers closest to the budget that local search starts from


@dataclass
class LagrangianOutcome:
    status: str  # "optimal" | "open" (the survivors still need an exact search) | "infeasible"
    bound: float  # upper bound on the kept saliency (original units)
    incumbent: dict[str, int] | None  # best feasible choice found (kept counts)
    keep: dict[str, np.ndarray] | None  # option indices that may still be optimal
    price: float  # the lam of the tightest bound (values per total saliency, costs per dense cost)
    evaluations: int
    table_entries: int  # size of the tree decomposition's tables
    cheapest: dict[str, int] | None = None  # least-cost choice, when infeasible


class _Search:
    def __init__(self, problem: Problem, max_table: int):
        self.problem = problem
        self.factors = KnapsackFactors(problem)
        elimination_order(self.factors.domains, self.factors.scopes(), max_table)  # width first
        self.factors.price_layers()
        self.tree = EliminationTree(self.factors.domains, self.factors.factors, max_table)
        self.vs, self.cs = self.factors.value_scale, self.factors.cost_scale
        self.base = problem.base_cost()
        self.capacity = (problem.budget - self.base) / self.cs
        self.evaluations = 0
        self.best_bound = np.inf
        self.incumbent: dict[str, int] | None = None
        self.incumbent_value = -np.inf
        self.best_price = 0.0
        self.near: list = []  # maximisers seen, to start local search from
        self.cheapest: dict[str, int] | None = None

    def evaluate(self, lam: float, weight: float = 1.0):
        """(counts, normalised value, normalised cost, feasible) of the maximiser at lam."""
        objective, assignment = self.tree.solve(lam, weight)
        self.evaluations += 1
        counts = self.factors.counts(assignment)
        cost = self.problem.cost(counts)
        value = self.problem.value(counts) / self.vs
        feasible = self.problem.within_budget(cost)
        if weight == 1.0 and objective + lam * self.capacity < self.best_bound:
            self.best_bound, self.best_price = objective + lam * self.capacity, lam
        if feasible and value > self.incumbent_value:
            self.incumbent, self.incumbent_value = counts, value
        if weight == 1.0:
            self.near.append((abs(cost - self.problem.budget), counts))
        return counts, value, (cost - self.base) / self.cs, feasible

    def minimise(self) -> str:
        """Drive lam towards the minimiser of L: "optimal" when the unconstrained best fits,
        "infeasible" when not even the cheapest choice fits, else "open"."""
        _, v_lo, c_lo, feasible = self.evaluate(0.0)
        if feasible:
            return "optimal"
        cheapest, _, _, feasible = self.evaluate(1.0, weight=0.0)
        if not feasible:
            self.cheapest = cheapest
            return "infeasible"
        lam = 1.0
        _, v_hi, c_hi, feasible = self.evaluate(lam)
        while not feasible and self.evaluations < MAX_EVALUATIONS // 2:
            lam *= 4.0
            _, v_hi, c_hi, feasible = self.evaluate(lam)
        if not feasible:  # prices too high to matter: the cheapest choice's line is the feasible one
            _, v_hi, c_hi, _ = self.evaluate(1.0, weight=0.0)
        while self.evaluations < MAX_EVALUATIONS and c_lo > c_hi and v_lo > v_hi:
            lam = (v_lo - v_hi) / (c_lo - c_hi)  # where the two lines cross
            _, v, c, feasible = self.evaluate(lam)
            if v - lam * (c - self.capacity) <= v_lo - lam * (c_lo - self.capacity) + BOUND_TOLERANCE:
                break  # nothing rises above the crossing: it is the minimum of L
            if feasible:
                v_hi, c_hi = v, c
            else:
                v_lo, c_lo = v, c
        return "open"


def lagrangian_reduce(problem: Problem, max_table: int = 20_000_000) -> LagrangianOutcome:
    """Bound the problem and drop every option that cannot be in an optimal choice.
    Raises elimination.TooWide when the layer graph's tree decomposition is too wide."""
    search = _Search(problem, max_table)
    status = search.minimise()
    lam = search.best_price
    entries = search.tree.table_entries
    if status == "infeasible":
        return LagrangianOutcome("infeasible", float("nan"), None, None, lam, search.evaluations,
                                 entries, cheapest=search.cheapest)
    incumbent = fill(problem, search.incumbent)
    for _, start in sorted(search.near, key=lambda item: item[0])[:LOCAL_SEARCH_STARTS]:
        candidate = fill(problem, repair(problem, start))
        if candidate is not None and problem.value(candidate) > problem.value(incumbent):
            incumbent = candidate
    value = problem.value(incumbent) / search.vs
    bound = search.best_bound if status == "open" else value
    if status == "optimal" or bound - value <= BOUND_TOLERANCE:
        keep = {g: np.array([int(np.searchsorted(problem.counts[g], incumbent[g]))]) for g in problem.counts}
        return LagrangianOutcome("optimal", value * search.vs, incumbent, keep, lam,
                                 search.evaluations, entries)
    marginals = search.tree.max_marginals(lam)
    keep = {}
    for g in problem.counts:
        reach = marginals[group_var(g)] + lam * search.capacity
        keep[g] = np.flatnonzero(reach >= value - BOUND_TOLERANCE)
        current = int(np.searchsorted(problem.counts[g], incumbent[g]))
        if current not in keep[g]:  # the incumbent always survives (rounding at the edge)
            keep[g] = np.union1d(keep[g], [current])
    return LagrangianOutcome("open", bound * search.vs, incumbent, keep, lam,
                             search.evaluations + 1, entries)


