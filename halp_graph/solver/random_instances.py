"""Random knapsack instances for tests and benchmarks.

`random_problem` draws an abstract Problem: a few groups (sizes, blocks, cuts, staircase
candidate counts, random saliency) and layers coupling them the ways real graphs do (a
chain conv, a concat of several groups into one conv, a depthwise conv on one group, a
layer fed by a frozen input), each with one of three cost shapes: a latency staircase
(tiles of channels on both axes), multiply-accumulates (bilinear), or an arbitrary table
(a noisy, non-monotone LUT). `StaircaseCostModel` prices the layers of a real GroupSet
the same staircase way, implementing the CostModel protocol.
"""

from __future__ import annotations

import math

import numpy as np

from ..cost_model import MacsCostModel, all_counts
from ..graph.groups import Group, GroupSet, Layer
from .problem import Problem, Side, Term
from .values import count_values

COST_SHAPES = ("staircase", "macs", "table")


def _random_counts(rng, size: int, blocks: int, min_keep: int) -> np.ndarray:
    start = math.ceil(min_keep / blocks) * blocks if min_keep else 0
    counts = np.arange(start, size + 1, blocks)
    if len(counts) > 2 and rng.random() < 0.6:  # staircase edges: a random subset
        chosen = rng.random(len(counts)) < rng.uniform(0.3, 0.8)
        counts = counts[chosen | (counts == size)]
    return np.unique(np.append(counts, size))


def _cost_function(rng, shape: str):
    if shape == "macs":
        scale = rng.uniform(0.2, 2.0)
        return lambda kin, kout: scale * kin * kout
    if shape == "staircase":
        tile_in, tile_out = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        per_tile, base = rng.uniform(0.5, 2.0), rng.uniform(0.0, 1.0)
        return lambda kin, kout: (base + per_tile * math.ceil(kin / tile_in) * math.ceil(kout / tile_out)
                                  if kin > 0 and kout > 0 else 0.0)
    seed = int(rng.integers(2**31))
    return lambda kin, kout: float(np.random.default_rng((seed, kin, kout)).uniform(0.0, 3.0))


def random_problem(rng: np.random.Generator, max_groups: int = 5, max_size: int = 10,
                   max_choices: int = 20_000, shapes=COST_SHAPES, coupled: bool = True) -> Problem:
    """A random Problem small enough to enumerate (at most `max_choices` choices).
    coupled=False gives every layer one group on its output and a fixed input: the plain
    multiple-choice knapsack that HALP's cost model describes exactly."""
    while True:
        n = int(rng.integers(1, max_groups + 1))
        counts, values, sizes = {}, {}, {}
        for k in range(n):
            g = f"g{k}"
            blocks = int(rng.choice([1, 1, 1, 2, 3]))
            size = blocks * int(rng.integers(1, max(2, max_size // blocks) + 1))
            cut = rng.random() < 0.4
            counts[g] = _random_counts(rng, size, blocks, blocks if cut else 0)
            scores = rng.exponential(1.0, size) * (rng.random(size) > 0.1)
            values[g] = count_values(scores, blocks, counts[g])
            sizes[g] = size
        if np.prod([len(c) for c in counts.values()], dtype=np.float64) <= max_choices:
            break
    ids = list(counts)
    terms = []
    for t in range(int(rng.integers(1, 2 * n + 2))):
        kind = rng.random()
        if not coupled:
            inputs = Side(int(rng.integers(1, 4)))
            outputs = Side(0, ((str(rng.choice(ids)), 1),))
        elif kind < 0.15:  # depthwise: one group on both axes
            g = str(rng.choice(ids))
            inputs = outputs = Side(0, ((g, 1),))
        else:
            n_in = int(rng.choice([0, 1, 1, 1, 2, 3])) if n > 1 else int(rng.integers(0, 2))
            ins = rng.choice(ids, size=min(n_in, n), replace=False).tolist()
            outs = rng.choice(ids, size=int(rng.integers(0 if ins else 1, min(2, n) + 1)), replace=False).tolist()
            inputs = Side(int(rng.integers(0, 4)) if rng.random() < 0.5 or not ins else 0,
                          tuple((g, int(rng.integers(1, 3))) for g in ins))
            outputs = Side(int(rng.integers(0, 4)) if rng.random() < 0.3 or not outs else 0,
                           tuple((g, 1) for g in outs))
        terms.append(Term(f"layer{t}", inputs, outputs, _cost_function(rng, str(rng.choice(shapes)))))
    problem = Problem(counts, values, terms, dense_cost=0.0, budget=0.0)
    dense = sum(problem.full_costs) + float(rng.uniform(0.0, 2.0))
    problem.dense_cost = dense
    least = problem.cost({g: int(c[0]) for g, c in counts.items()})
    low, high = min(least, dense), max(least, dense)
    problem.budget = float(rng.uniform(low - 0.1 * (high - low), high + 0.05 * (high - low)))
    problem.unit = "units"
    return problem


class StaircaseCostModel(MacsCostModel):
    """MACs rounded up to tiles of channels on both axes (a CPU-like latency staircase), in
    the CostModel protocol; candidate counts are the tile edges."""

    unit = "tiles"

    def __init__(self, groups: GroupSet, tile: int = 4, seed: int = 0):
        super().__init__(groups)
        rng = np.random.default_rng(seed)
        self.tile = tile
        self._speed = {layer.name: float(rng.uniform(0.5, 2.0)) for layer in groups.layers}

    def layer_cost(self, layer: Layer, kept_in: int, kept_out: int) -> float:
        rounded_in = math.ceil(kept_in / self.tile) * self.tile
        rounded_out = math.ceil(kept_out / self.tile) * self.tile
        return self._speed[layer.name] * super().layer_cost(layer, rounded_in, rounded_out)

    def candidate_counts(self, group: Group) -> list[int]:
        counts = all_counts(group)
        return sorted({c for c in counts if c % self.tile == 0} | {counts[0], group.size})
