"""Local search for good feasible choices: repair one that is over budget, fill one that
leaves budget unused. Used to find incumbents; optimality is proven elsewhere."""

from __future__ import annotations

import numpy as np

from .problem import Problem


class _Moves:
    """Cost of a choice and of changing one group, evaluating only the terms it touches."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.touching: dict[str, list] = {g: [] for g in problem.counts}
        for term in problem.terms:
            for g in term.group_ids():
                self.touching[g].append(term)

    def local_cost(self, g: str, counts: dict[str, int]) -> float:
        return sum(t(t.inputs.kept(counts), t.outputs.kept(counts)) for t in self.touching[g])

    def index(self, g: str, count: int) -> int:
        return int(np.searchsorted(self.problem.counts[g], count))


def repair(problem: Problem, counts: dict[str, int]) -> dict[str, int] | None:
    """Lower groups, each time the move that loses the least saliency per unit of cost
    saved, until the choice fits the budget (None if it never does)."""
    moves = _Moves(problem)
    counts = dict(counts)
    cost = problem.cost(counts)
    while not problem.within_budget(cost):
        best = None
        for g, options in problem.counts.items():
            now = moves.index(g, counts[g])
            here = moves.local_cost(g, counts)
            for i in range(now):
                trial = dict(counts)
                trial[g] = int(options[i])
                saved = here - moves.local_cost(g, trial)
                if saved <= 0:
                    continue
                ratio = (problem.values[g][now] - problem.values[g][i]) / saved
                if best is None or ratio < best[0]:
                    best = (ratio, g, int(options[i]))
        if best is None:
            return None
        counts[best[1]] = best[2]
        cost = problem.cost(counts)
    return counts


def fill(problem: Problem, counts: dict[str, int] | None) -> dict[str, int] | None:
    """Raise groups while the budget allows, each time the move adding the most saliency."""
    if counts is None:
        return None
    moves = _Moves(problem)
    counts = dict(counts)
    cost = problem.cost(counts)
    while True:
        best = None
        for g, options in problem.counts.items():
            now = moves.index(g, counts[g])
            here = None
            for i in range(now + 1, len(options)):
                gain = problem.values[g][i] - problem.values[g][now]
                if gain <= 0 or (best is not None and gain <= best[0]):
                    continue
                here = moves.local_cost(g, counts) if here is None else here
                trial = dict(counts)
                trial[g] = int(options[i])
                if problem.within_budget(cost - here + moves.local_cost(g, trial)):
                    best = (gain, g, int(options[i]))
        if best is None:
            return counts
        previous = counts[best[1]]
        counts[best[1]] = best[2]
        cost = problem.cost(counts)
        if not problem.within_budget(cost):  # the incremental sum rounded differently
            counts[best[1]] = previous
            return counts
