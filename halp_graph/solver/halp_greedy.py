"""HALP's augmented knapsack (Shen et al., NeurIPS 2022, Algorithm 1), kept as a reference.

What HALP does, and what this file reproduces:
  * Items are neuron groups: per group, the channels between consecutive candidate counts,
    in saliency order (HALP uses fixed chunks of 16 or 32 channels; candidate counts are
    the same thing on a LUT's staircase). An item's value is its channels' saliency.
  * An item's latency is the drop in the latency of the layers that *produce* the group
    when it is removed, with every other group (in particular the layer's input, "the
    previous layer") held at its reference count (the dense model for one-shot pruning, the
    current counts during a schedule). Layers that only *consume* the group are not
    credited, and savings of two groups on one layer are never combined.
  * Latencies are made integers (HALP: ms x 1000; here the dense cost / `resolution`), and
    a 0/1 knapsack DP runs over items ordered by importance within each group, with the
    "augmented" rule: an item may be kept at a capacity only if the group's previous, more
    important item was kept at the capacity left for it. That makes kept items a prefix of
    the saliency order (no holes), but the DP keeps a single path per capacity, so it can
    miss the best answer even under its own cost estimate. Negative latencies (a LUT that
    is not monotone) are handled as HALP does, by widening the table.

Two deliberate departures, both about feasibility rather than the method:
  * Graph cuts and other minimum counts are mandatory items, charged up front. (HALP's
    `disable_layer_prune` forces each layer's first item in even when it does not fit, and
    then reads the table at a negative index; that is the path that can return an answer
    over budget.)
  * The answer is checked with the true, coupled cost. When HALP's estimate says it fits
    but the cost model disagrees (rounding, or a cost that is not monotone in a layer's
    input), the capacity is reduced by the excess (at least doubling the reduction each
    round) and the DP re-run; `repairs` counts these rounds, so a benchmark can report how
    often HALP as published overshoots.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .problem import Problem

MAX_REPAIRS = 30


@dataclass
class GreedyOutcome:
    counts: dict[str, int] | None  # None: not even the mandatory items fit
    estimated_cost: float  # HALP's own estimate of the answer's cost
    repairs: int  # re-runs with a reduced capacity because the true cost was over budget


@dataclass
class _Items:
    group: list[str]
    first: np.ndarray  # True where an item is its group's most important optional item
    value: np.ndarray
    latency: np.ndarray
    fixed_cost: float  # estimated cost with only the mandatory items kept


def halp_items(problem: Problem, reference: dict[str, int] | None = None) -> _Items:
    """Per group, one item per step between its candidate counts, most important first."""
    reference = dict(reference or problem.full())
    producers: dict[str, list] = {g: [] for g in problem.counts}
    for term in problem.terms:
        for g in term.outputs.group_ids():
            producers[g].append(term)
    group, first, value, latency = [], [], [], []
    for g, counts in problem.counts.items():
        def cost_at(count: int) -> float:
            kept = dict(reference)
            kept[g] = count
            return sum(t(t.inputs.kept(kept), t.outputs.kept(kept)) for t in producers[g])
        costs = [cost_at(int(c)) for c in counts]
        for k in range(1, len(counts)):
            group.append(g)
            first.append(k == 1)
            value.append(problem.values[g][k] - problem.values[g][k - 1])
            latency.append(costs[k] - costs[k - 1])
    latency_arr = np.array(latency, dtype=float)
    # HALP's capacity is the whole latency; what no item can remove is the cost at the
    # reference less every item's latency
    fixed = problem.cost(reference) - float(latency_arr.sum())
    return _Items(group, np.array(first, dtype=bool), np.array(value, dtype=float), latency_arr, fixed)


def augmented_knapsack(weight: np.ndarray, value: np.ndarray, first: np.ndarray,
                       capacity: int) -> np.ndarray:
    """HALP's DP: indices of the items kept within `capacity` (integer weights)."""
    if capacity >= weight.sum():
        return np.arange(len(weight))
    extra = int(-weight[weight < 0].sum())
    size = capacity + extra + 1
    table = np.zeros(size)
    keep = np.zeros((len(weight) + 1, size), dtype=bool)
    w_range = np.arange(size)
    for i in range(len(weight)):
        wi, vi = int(weight[i]), value[i]
        source = w_range - wi
        valid = (source >= 0) & (source < size)
        src = np.clip(source, 0, size - 1)
        with_item = np.where(valid, vi + table[src], -np.inf)
        better = (with_item > table) | ((with_item == table) & (wi == 0))
        preceded = first[i] | keep[i][src]  # keep row i holds item i-1
        take = valid & better & preceded
        table = np.where(take, with_item, table)
        keep[i + 1] = take
    kept, k = [], capacity
    for i in range(len(weight) - 1, -1, -1):
        if keep[i + 1][k]:
            kept.append(i)
            k -= int(weight[i])
    return np.array(sorted(kept), dtype=np.int64)


def halp_knapsack(problem: Problem, reference: dict[str, int] | None = None,
                  resolution: int = 10_000) -> GreedyOutcome:
    """HALP's answer for `problem` (see the module docstring). `reference`: the current
    counts (default: dense); as in HALP, channels already pruned stay pruned, so each
    group's options are limited to at most its reference count."""
    if reference is not None:
        for g, count in reference.items():
            if count not in problem.counts[g]:
                raise ValueError(f"reference count {count} of group {g} is not one of its options")
        problem = problem.restrict({g: np.flatnonzero(c <= reference[g]) for g, c in problem.counts.items()})
    items = halp_items(problem, reference)
    quantum = abs(problem.dense_cost) / resolution or 1.0
    weight = np.round(items.latency / quantum).astype(np.int64)
    capacity = problem.budget - items.fixed_cost
    shrink, repairs = 0, 0
    while True:
        cap = int(round(capacity / quantum)) - shrink
        if cap < 0:
            return GreedyOutcome(None, items.fixed_cost, repairs)
        kept = augmented_knapsack(weight, items.value, items.first, cap)
        counts = _counts(problem, items, kept)
        estimate = items.fixed_cost + float(items.latency[kept].sum())
        true_cost = problem.cost(counts)
        if problem.within_budget(true_cost) or repairs >= MAX_REPAIRS:
            if not problem.within_budget(true_cost):
                return GreedyOutcome(None, estimate, repairs)
            return GreedyOutcome(counts, estimate, repairs)
        # lower the capacity by the excess, at least doubling the cut each round
        shrink = max(2 * shrink, shrink + math.ceil((true_cost - problem.budget) / quantum), 1)
        repairs += 1


def _counts(problem: Problem, items: _Items, kept: np.ndarray) -> dict[str, int]:
    steps = {g: 0 for g in problem.counts}
    for i in kept.tolist():
        steps[items.group[i]] += 1
    return {g: int(problem.counts[g][steps[g]]) for g in problem.counts}


def halp_schedule(problem: Problem, steps: int = 30, resolution: int = 10_000) -> GreedyOutcome:
    """HALP's pruning schedule with the saliency held fixed: `steps` targets annealed
    geometrically from the dense cost to the budget, each solved by the augmented knapsack
    with the previous step's counts as the reference and as an upper bound (pruned channels
    stay pruned). This is how HALP uses its solver during fine-tuning; it lets the
    reference approach the final counts, which one-shot use cannot."""
    counts = problem.full()
    repairs, estimate = 0, problem.dense_cost
    dense, budget = problem.dense_cost, problem.budget
    for k in range(1, steps + 1):
        if budget > 0 and dense > 0:
            target = dense * (budget / dense) ** (k / steps)
        else:
            target = dense + (budget - dense) * k / steps
        outcome = halp_knapsack(problem.with_budget(target), reference=counts, resolution=resolution)
        repairs += outcome.repairs
        if outcome.counts is None:
            return GreedyOutcome(None, outcome.estimated_cost, repairs)
        counts, estimate = outcome.counts, outcome.estimated_cost
    return GreedyOutcome(counts, estimate, repairs)
