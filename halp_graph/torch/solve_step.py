"""The pruner's solve step: which channels to keep so that the predicted cost meets a target.

`select(groups, cost_model, scores, target_cost) -> PruningPlan` is the one place the
training-time pruner asks for a plan. This version is a stand-in until the exact
knapsack solver (issue 5) is merged: a greedy that, starting from the dense network,
repeatedly lowers the kept count of the group whose next step down loses the least
saliency per unit of cost saved, until `predict(cost_model, groups, kept) <= target_cost`.
It walks each group's candidate counts (a latency LUT's staircase edges), keeps the
highest-scoring channels of each block, never empties a group (the nn.Module slimming
keeps at least one channel) and never touches groups without scores or frozen ones.
Swapping in the exact solver means replacing the body of `select`, nothing else.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from halp_graph.cost_model import CostModel, predict
from halp_graph.graph.groups import Group, GroupSet
from halp_graph.plan import PruningPlan


def select(groups, cost_model: CostModel, scores: dict[str, np.ndarray], target_cost: float,
           *, min_keep_fraction: float = 0.0) -> PruningPlan:
    """Keep the most salient channels whose predicted cost is at most `target_cost` (or as
    close as the candidate counts allow). `scores[gid]` holds one value per group channel.

    `min_keep_fraction` keeps at least that share of every group (Torch-Pruning's
    max_pruning_ratio, inverted): with additive saliency a residual stream can look cheap
    to cut down to one channel although everything downstream reads it."""
    if not isinstance(groups, GroupSet):  # a ModuleGroups works too
        groups = groups.groups
    state = _GreedyState(groups, cost_model, scores, min_keep_fraction)
    state.run(target_cost)
    return state.plan()


class _GreedyState:
    def __init__(self, groups: GroupSet, cost_model: CostModel, scores: dict[str, np.ndarray],
                 min_keep_fraction: float = 0.0):
        self.groups = groups
        self.cost_model = cost_model
        self.sizes = {g.id: g.size for g in groups}
        self.kept = {g.id: g.size for g in groups}
        self.order: dict[str, list[np.ndarray]] = {}  # per block: channel indices, best first
        self.counts: dict[str, list[int]] = {}
        self.lost_prefix: dict[str, list[np.ndarray]] = {}
        for g in groups.prunable():
            if g.id not in scores:
                continue
            s = np.asarray(scores[g.id], dtype=np.float64).reshape(-1)
            if s.shape[0] != g.size:
                raise ValueError(f"scores for group {g.id} have {s.shape[0]} values, the group has {g.size}")
            floor = max(1, g.min_keep, int(np.ceil(min_keep_fraction * g.size)))
            counts = [c for c in cost_model.candidate_counts(g) if c >= floor and c % g.blocks == 0]
            if len(counts) < 2:
                continue
            self.counts[g.id] = sorted(set(counts))
            self.order[g.id], self.lost_prefix[g.id] = _block_orders(g, s)
        self.layers_of: dict[str, list] = defaultdict(list)
        for layer in groups.layers:
            for gid in set(layer.input_groups()) | set(layer.output_groups()):
                self.layers_of[gid].append(layer)
        self.cost = predict(cost_model, groups, self.kept)
        self.rank = {g.id: i for i, g in enumerate(groups)}

    def _layer_costs(self, layers, kept) -> float:
        total = 0.0
        for layer in layers:
            total += self.cost_model.layer_cost(layer, layer.kept_in(kept, self.sizes),
                                                layer.kept_out(kept, self.sizes))
        return total

    def _lost(self, gid: str, count: int) -> float:
        """Saliency removed when the group keeps `count` channels (the lowest go first)."""
        per_block = count // self.groups[gid].blocks
        return float(sum(prefix[len(prefix) - 1 - per_block] for prefix in self.lost_prefix[gid]))

    def _move(self, gid: str):
        """(ratio, -saving, rank, new count, saving) of lowering `gid` one candidate step."""
        counts = self.counts[gid]
        now = self.kept[gid]
        lower = [c for c in counts if c < now]
        if not lower:
            return None
        new = lower[-1]
        layers = self.layers_of.get(gid, [])
        before = self._layer_costs(layers, self.kept)
        trial = dict(self.kept)
        trial[gid] = new
        saving = before - self._layer_costs(layers, trial)
        lost = self._lost(gid, new) - self._lost(gid, now)
        if saving <= 0:
            return None
        return (lost / saving, -saving, self.rank[gid], new, saving)

    def run(self, target: float) -> None:
        moves = {gid: self._move(gid) for gid in self.counts}
        while self.cost > target:
            live = [(m, gid) for gid, m in moves.items() if m is not None]
            if not live:
                return
            move, gid = min(live, key=lambda item: item[0][:3])
            self.kept[gid] = move[3]
            self.cost -= move[4]
            touched = {gid}
            for layer in self.layers_of.get(gid, []):
                touched |= set(layer.input_groups()) | set(layer.output_groups())
            for other in touched:
                if other in self.counts:
                    moves[other] = self._move(other)

    def plan(self) -> PruningPlan:
        keep = {}
        for gid, count in self.kept.items():
            if count < self.sizes[gid]:
                per_block = count // self.groups[gid].blocks
                keep[gid] = sorted(int(i) for block in self.order[gid] for i in block[:per_block])
        return PruningPlan(keep)


def _block_orders(group: Group, scores: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per block: channel indices from most to least salient (ties: lower index first), and
    prefix sums of the scores taken from the least salient end (prefix[k]: the k lowest)."""
    per = group.size // group.blocks
    orders, prefixes = [], []
    for b in range(group.blocks):
        block = scores[b * per:(b + 1) * per]
        order = np.lexsort((np.arange(per), -block))  # descending score, then ascending index
        orders.append(order + b * per)
        lowest_first = block[order[::-1]]
        prefixes.append(np.concatenate([[0.0], np.cumsum(lowest_first)]))
    return orders, prefixes
