"""The latency-saliency knapsack: which channels to keep so that the predicted cost fits.

    from halp_graph.solver import solve
    result = solve(groups, cost_model, scores, budget=0.5 * cost_model.dense_cost())
    result.plan          # a validated PruningPlan (the highest-scoring channels of each group)
    result.status        # "optimal" | "feasible" (with result.gap) | "infeasible"

`method="exact"` (the default) proves its answer optimal (see exact.py); `method="greedy"`
is HALP's augmented knapsack, kept as the reference it improves on (halp_greedy.py).
A caller that solves one model several times (a closed loop correcting its budget)
builds the problem once and reuses its cached layer costs:

    problem = build_problem(groups, cost_model, scores, budget)
    result = solve_problem(problem.with_budget(new_budget))
    plan = make_plan(groups, scores, result.counts)
"""

from __future__ import annotations

import math
import time
from typing import Mapping

import numpy as np

from ..cost_model import CostModel
from ..errors import TargetError
from ..graph.groups import GroupSet
from ..plan import PruningPlan
from ..saliency import check_scores
from .connected import solve_connected
from .exact import solve_exact
from .halp_greedy import halp_knapsack
from .problem import Problem, Side, Term, build_problem
from .result import SolveResult
from .values import kept_channels

METHODS = ("exact", "greedy")


def solve(groups: GroupSet, cost_model: CostModel, saliency: Mapping[str, np.ndarray],
          budget: float, method: str = "exact", time_limit: float = 10.0,
          reference: Mapping[str, int] | None = None) -> SolveResult:
    """Keep the most saliency whose predicted cost (cost_model units) is at most `budget`.

    saliency: per-channel scores per group id (halp_graph.saliency); groups left out count
    every channel as 1. reference: for method="greedy", the current counts (every group's,
    each one of its candidate counts): HALP holds neighbouring layers at them and prunes
    from them (default: the dense model). The result's plan keeps, in every group, the
    highest-scoring channels (the top count/blocks of each block of a grouped conv).
    """
    scores = check_scores(groups, saliency)
    problem = build_problem(groups, cost_model, scores, budget)
    result = solve_problem(problem, method=method, time_limit=time_limit, reference=reference)
    result.plan = make_plan(groups, scores, result.counts)
    return result


def make_plan(groups: GroupSet, saliency: Mapping[str, np.ndarray], counts: Mapping[str, int]) -> PruningPlan:
    """The validated plan keeping, in each group, its `counts[g]` highest-scoring channels
    (the top counts[g] / blocks of each block of a grouped conv)."""
    scores = check_scores(groups, saliency)
    keep = {}
    for g, count in counts.items():
        group = groups[g]
        if count < group.size:
            keep[g] = kept_channels(scores[g], group.blocks, int(count))
    plan = PruningPlan(keep)
    plan.validate(groups)
    return plan


def solve_problem(problem: Problem, method: str = "exact", time_limit: float = 10.0,
                  reference: Mapping[str, int] | None = None) -> SolveResult:
    """Solve a Problem; the result has no plan (that needs the groups and scores)."""
    if method not in METHODS:
        raise TargetError(f"unknown solver method {method!r}; choose one of {', '.join(METHODS)}")
    if not time_limit > 0:
        raise TargetError(f"time limit must be positive, got {time_limit}")
    if not math.isfinite(problem.budget):
        raise TargetError(f"budget must be a finite cost, got {problem.budget}")
    start = time.perf_counter()
    if method == "exact":
        status, counts, bound, message, details = solve_connected(problem, solve_exact, time_limit)
    else:
        try:
            outcome = halp_knapsack(problem, reference=dict(reference) if reference else None)
        except (ValueError, KeyError) as exc:
            raise TargetError(f"bad reference counts for the greedy solver: {exc}") from None
        details = {"repairs": outcome.repairs, "halp_estimated_cost": outcome.estimated_cost}
        counts, bound = outcome.counts, None
        status = "feasible" if counts is not None else "infeasible"
        message = "HALP augmented knapsack" if counts is not None else "HALP's greedy found no choice within the budget"
    if counts is None:  # nothing fits and the cheapest choice is unknown: keep the least
        counts = {g: int(c[0]) for g, c in problem.counts.items()}
    cost = problem.cost(counts)
    if status != "infeasible" and not problem.within_budget(cost):
        raise AssertionError(f"solver returned a choice over budget ({cost} > {problem.budget})")
    return SolveResult(status=status, method=method, counts=counts, objective=problem.value(counts),
                       max_objective=problem.max_value(), bound=bound, predicted_cost=cost,
                       dense_cost=problem.dense_cost, budget=problem.budget, unit=problem.unit,
                       solve_time_s=time.perf_counter() - start, message=message, details=details)


__all__ = ["solve", "solve_problem", "make_plan", "SolveResult", "Problem", "Term", "Side",
           "build_problem", "METHODS"]
