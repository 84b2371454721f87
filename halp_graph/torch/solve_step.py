"""The pruner's solve step: which channels to keep so that the predicted cost meets a target.

`select(groups, cost_model, scores, target_cost) -> PruningPlan` is the one place the
training-time pruner asks for a plan. It is the exact latency-saliency knapsack of
halp_graph.solver, on a view of the cost model whose candidate counts never empty a group
(slimming an nn.Module keeps at least one channel), keep at least `min_keep_fraction` of
every group, and leave groups without scores (or frozen ones) whole. The highest-scoring
channels of each block are kept. When even the cheapest choice misses the target, the
cheapest choice is returned: the schedule anneals towards its budget and gets as close
as the candidate counts allow.
"""

from __future__ import annotations

import math

import numpy as np

from ..cost_model import CostModel
from ..graph.groups import Group, GroupSet
from ..plan import PruningPlan
from ..solver import solve


class _AtLeast:
    """A CostModel view whose candidate counts respect the pruner's floor."""

    def __init__(self, base: CostModel, scored: set[str], min_keep_fraction: float):
        self.base = base
        self.scored = scored
        self.fraction = min_keep_fraction
        self.unit = base.unit

    def layer_cost(self, layer, kept_in: int, kept_out: int) -> float:
        return self.base.layer_cost(layer, kept_in, kept_out)

    def dense_cost(self) -> float:
        return self.base.dense_cost()

    def candidate_counts(self, group: Group) -> list[int]:
        if group.id not in self.scored:
            return [group.size]
        floor = max(1, group.min_keep, int(math.ceil(self.fraction * group.size)))
        counts = [c for c in self.base.candidate_counts(group) if c >= floor]
        return counts or [group.size]


def select(groups, cost_model: CostModel, scores: dict[str, np.ndarray], target_cost: float,
           *, min_keep_fraction: float = 0.0, time_limit: float = 20.0) -> PruningPlan:
    """Keep the most salient channels whose predicted cost is at most `target_cost` (or the
    cheapest plan the floor allows). `scores[gid]` holds one value per group channel.

    `min_keep_fraction` keeps at least that share of every group (Torch-Pruning's
    max_pruning_ratio, inverted): with additive saliency a residual stream can look cheap
    to cut down to one channel although everything downstream reads it."""
    if not isinstance(groups, GroupSet):  # a ModuleGroups works too
        groups = groups.groups
    for gid, s in scores.items():
        if gid in groups.by_id and np.asarray(s).reshape(-1).shape[0] != groups[gid].size:
            raise ValueError(f"scores for group {gid} have {np.asarray(s).size} values, "
                             f"the group has {groups[gid].size}")
    scored = {g.id for g in groups.prunable() if g.id in scores}
    view = _AtLeast(cost_model, scored, min_keep_fraction)
    full = {g.id: np.asarray(scores.get(g.id, np.ones(g.size)), dtype=np.float64).reshape(-1)
            for g in groups.prunable()}
    result = solve(groups, view, full, budget=float(target_cost), method="exact", time_limit=time_limit)
    return result.plan
