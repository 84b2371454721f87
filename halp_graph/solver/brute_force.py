"""Enumerate every choice of a small Problem: the ground truth for tests and benchmarks.

A choice counts only when it fits the budget and keeps every output connected
(`Problem.disconnecting`), the constraint the exact solver enforces too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .problem import Problem

MAX_CHOICES = 2_000_000


@dataclass
class BruteForceResult:
    value: float | None  # best kept saliency within budget (None: nothing fits)
    counts: dict[str, int] | None
    choices: int  # how many choices were enumerated
    min_cost: float  # least predicted cost over all choices


def brute_force(problem: Problem) -> BruteForceResult:
    groups = list(problem.counts)
    shape = tuple(len(problem.counts[g]) for g in groups)
    total = int(np.prod(shape, dtype=np.float64)) if shape else 1
    if total > MAX_CHOICES:
        raise ValueError(f"{total} choices: too many to enumerate")
    index = np.indices(shape).reshape(len(groups), -1) if groups else np.zeros((0, 1), np.int64)
    kept = {g: problem.counts[g][index[k]] for k, g in enumerate(groups)}
    values = np.zeros(index.shape[1])
    for k, g in enumerate(groups):
        values += problem.values[g][index[k]]
    saving = np.zeros(index.shape[1])
    for term, full in zip(problem.terms, problem.full_costs):
        kin = term.inputs.fixed + sum(per * kept[g] for g, per in term.inputs.groups)
        kout = term.outputs.fixed + sum(per * kept[g] for g, per in term.outputs.groups)
        pairs, inverse = np.unique(np.stack([np.broadcast_to(kin, values.shape),
                                             np.broadcast_to(kout, values.shape)]), axis=1,
                                   return_inverse=True)
        costs = np.array([term(int(a), int(b)) for a, b in pairs.T])
        saving += full - costs[inverse.reshape(-1)]
    approx_cost = problem.dense_cost - saving
    slack = 1e-9 * max(abs(problem.budget), abs(problem.dense_cost), 1e-300)
    # The vectorised sums may round differently from Problem.cost: re-check candidates
    # near the budget with the exact scalar computation, best value first.
    candidates = np.flatnonzero(approx_cost <= problem.budget + slack)
    for i in candidates[np.argsort(-values[candidates], kind="stable")]:
        counts = {g: int(kept[g][i]) for g in groups}
        if problem.within_budget(problem.cost(counts)) and problem.disconnecting(counts) is None:
            return BruteForceResult(problem.value(counts), counts, total, float(approx_cost.min()))
    return BruteForceResult(None, None, total, float(approx_cost.min()))
