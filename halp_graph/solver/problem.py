"""The latency-saliency knapsack as a self-contained problem, independent of ONNX.

Each prunable group picks one kept count from its options; the value of a count is the
saliency it keeps. Each layer is a cost term whose cost depends on the elements kept on
its input axis and on its output axis; an axis is made of the channels of one or more
groups (several after a Concat) plus elements that never change (frozen groups):

    kept elements on a side = fixed + sum over its groups of (elements per channel * count)

The predicted cost of a choice is the dense cost minus what each term saves, exactly as
`halp_graph.cost_model.predict` computes it. `build_problem` turns a GroupSet, a cost model
and saliency scores into a Problem; tests and benchmarks also build Problems directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from ..cost_model import CostModel
from ..errors import TargetError
from ..graph.groups import Group, GroupSet, Layer, Segment
from ..saliency import check_scores
from .values import count_values

# Two costs closer than this (relative to the dense cost) are equal: a plan is within
# budget when its predicted cost is at most budget * (1 + FEASIBILITY_RTOL).
FEASIBILITY_RTOL = 1e-12


@dataclass(frozen=True)
class Side:
    """One channel axis of a term: `fixed` elements, plus for each (group id, elements per
    channel) pair in `groups` that many elements per kept channel of the group."""

    fixed: int
    groups: tuple[tuple[str, int], ...] = ()

    def kept(self, counts: Mapping[str, int]) -> int:
        return self.fixed + sum(per * counts[g] for g, per in self.groups)

    def group_ids(self) -> list[str]:
        return [g for g, _ in self.groups]


@dataclass
class Term:
    """A layer's cost as a function of (kept input elements, kept output elements)."""

    name: str
    inputs: Side
    outputs: Side
    cost: Callable[[int, int], float]
    # cost at every pair of two lists of kept elements at once, where the cost model
    # can (LutCostModel.layer_cost_table): the same numbers as `cost`, far fewer calls
    table: Callable[[list[int], list[int]], object] | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __call__(self, kept_in: int, kept_out: int) -> float:
        key = (kept_in, kept_out)
        value = self._cache.get(key)
        if value is None:
            value = self._cache[key] = float(self.cost(kept_in, kept_out))
        return value

    def group_ids(self) -> list[str]:
        return list(dict.fromkeys(self.inputs.group_ids() + self.outputs.group_ids()))


@dataclass
class Problem:
    """Choose one count per group from `counts[g]` (ascending) to maximise the summed
    `values[g][i]` with predicted cost at most `budget`. `sizes` are the groups' full
    sizes, where the dense cost is priced (default: each group's largest count)."""

    counts: dict[str, np.ndarray]
    values: dict[str, np.ndarray]
    terms: list[Term]
    dense_cost: float
    budget: float
    unit: str = ""
    sizes: dict[str, int] | None = None
    # emptied group ids -> None if the model stays connected, else a minimal
    # disconnecting subset (GroupSet.minimal_cut); None: every choice is connected
    minimal_cut: Callable[[list[str]], list[str] | None] | None = None

    def __post_init__(self) -> None:
        if self.sizes is None:
            self.sizes = {g: int(c[-1]) for g, c in self.counts.items()}
        self.full_costs = [t(t.inputs.kept(self.sizes), t.outputs.kept(self.sizes))
                           for t in self.terms]

    def cost(self, kept: Mapping[str, int]) -> float:
        """Predicted cost: dense minus the saving of every term (as cost_model.predict)."""
        saving = 0.0
        for term, full in zip(self.terms, self.full_costs):
            saving += full - term(term.inputs.kept(kept), term.outputs.kept(kept))
        return self.dense_cost - saving

    def value(self, kept: Mapping[str, int]) -> float:
        """Kept saliency of a choice (every count must be one of the group's options)."""
        total = 0.0
        for g, counts in self.counts.items():
            total += float(self.values[g][int(np.searchsorted(counts, kept[g]))])
        return total

    def max_value(self) -> float:
        return float(sum(v.max() for v in self.values.values()))

    def within_budget(self, cost: float) -> bool:
        """Whether a predicted cost fits the budget (up to FEASIBILITY_RTOL of rounding)."""
        return cost <= self.budget + FEASIBILITY_RTOL * max(abs(self.budget), abs(self.dense_cost))

    def full(self) -> dict[str, int]:
        return dict(self.sizes)

    def base_cost(self) -> float:
        """The part of the predicted cost no choice changes: the dense cost minus the dense
        cost of every term that depends on some group."""
        return self.dense_cost - sum(full for term, full in zip(self.terms, self.full_costs)
                                     if term.group_ids())

    def with_budget(self, budget: float) -> "Problem":
        """The same problem (sharing the cost caches) under another budget."""
        other = Problem.__new__(Problem)
        other.__dict__.update(self.__dict__)
        other.budget = budget
        return other

    def restrict(self, keep: Mapping[str, np.ndarray]) -> "Problem":
        """The same problem with group g limited to the options at indices keep[g]."""
        other = Problem.__new__(Problem)
        other.__dict__.update(self.__dict__)
        other.counts = {g: c[keep[g]] if g in keep else c for g, c in self.counts.items()}
        other.values = {g: v[keep[g]] if g in keep else v for g, v in self.values.items()}
        return other

    def disconnecting(self, counts: Mapping[str, int]) -> list[str] | None:
        """The emptied groups of a choice that cut an output off from the inputs (a
        minimal set of them), or None when the choice keeps the model connected."""
        if self.minimal_cut is None:
            return None
        emptied = [g for g, c in counts.items() if int(c) == 0]
        return self.minimal_cut(emptied) if emptied else None

    def never_empty(self, group_ids) -> "Problem":
        """The same problem with the groups' option 0 (emptying them) removed."""
        keep = {g: np.flatnonzero(self.counts[g] > 0) for g in group_ids
                if g in self.counts and (self.counts[g] > 0).any()}
        return self.restrict(keep)


# ------------------------------------------------------------------ from a real model
def build_problem(groups: GroupSet, cost_model: CostModel, saliency: Mapping[str, np.ndarray],
                  budget: float, measured: Mapping[str, list] | None = None) -> Problem:
    """The knapsack for one model: options from `cost_model.candidate_counts`, values from
    `saliency` (see halp_graph.saliency.check_scores), one term per layer.

    measured: per group, (channels removed, measured loss) points in the unit of the
    scores (loss-aware saliency's tables; removing the whole group is emptying it). The
    group's options are then priced by those measurements, interpolated between them
    along the scores' own curve (see measured_values), instead of by sums of channel
    scores."""
    scores = check_scores(groups, saliency)
    if not math.isfinite(budget):
        raise TargetError(f"budget must be a finite cost, got {budget}")
    counts, values = {}, {}
    for group in groups.prunable():
        options = admissible_counts(group, cost_model.candidate_counts(group))
        counts[group.id] = options
        values[group.id] = count_values(scores[group.id], group.blocks, options)
        if measured and measured.get(group.id):
            values[group.id] = measured_values(scores[group.id], options, measured[group.id])
    sizes = {g.id: g.size for g in groups}
    terms = []
    for layer in groups.layers:
        inputs = _side(layer.in_segments, counts, sizes)
        outputs = _side(layer.out_segments, counts, sizes)
        terms.append(Term(layer.name, inputs, outputs, _layer_cost(cost_model, layer),
                          table=_layer_table(cost_model, layer)))
    return Problem(counts, values, terms, float(cost_model.dense_cost()), float(budget),
                   getattr(cost_model, "unit", ""), minimal_cut=groups.minimal_cut)


def measured_values(scores: np.ndarray, options: np.ndarray, points) -> np.ndarray:
    """Values of a group's options (ascending kept counts) from measured losses.

    `points` are (removed, loss) pairs, the lowest-scoring channels removed first. The loss
    of removing r channels is interpolated between the measured r's bracketing it, along
    the cumulative score of the removed channels (the scores' local estimate gives the
    shape, the measurements the level); past the last measurement it grows with the
    scores in proportion. Losses are made non-decreasing in r, and values are the largest
    loss minus each option's loss, so they stay non-negative (one option is chosen per
    group: a shift changes no choice)."""
    size = len(scores)
    cumulative = np.concatenate([[0.0], np.cumsum(np.sort(np.asarray(scores, dtype=np.float64)))])
    knots = sorted({(0, 0.0), *((int(r), float(d)) for r, d in points)})
    rs = np.array([k[0] for k in knots])
    ds = np.maximum.accumulate(np.array([max(k[1], 0.0) for k in knots]))
    loss = np.empty(len(options))
    for i, count in enumerate(options):
        r = size - int(count)
        j = int(np.searchsorted(rs, r, side="right")) - 1
        if j >= len(rs) - 1:  # past the last measurement
            base = cumulative[rs[-1]]
            loss[i] = ds[-1] * (cumulative[r] / base if base > 0 else 1.0) if r > rs[-1] else ds[-1]
            continue
        a, b = rs[j], rs[j + 1]
        fa, fb = cumulative[a], cumulative[b]
        t = (cumulative[r] - fa) / (fb - fa) if fb > fa else (r - a) / (b - a)
        loss[i] = ds[j] + t * (ds[j + 1] - ds[j])
    loss = np.maximum.accumulate(loss[::-1])[::-1]  # fewer kept never loses less
    return loss.max() - loss


def admissible_counts(group: Group, candidates) -> np.ndarray:
    """The cost model's candidate counts that a plan may use (at least min_keep, multiples
    of step, at most size), always including the full size; ascending."""
    keep = {int(c) for c in candidates
            if group.min_keep <= int(c) <= group.size and int(c) % group.step == 0}
    keep.add(group.size)
    return np.array(sorted(keep), dtype=np.int64)


def _side(segments: list[Segment], counts: Mapping[str, np.ndarray], sizes: Mapping[str, int]) -> Side:
    fixed, per_channel = 0, {}
    for seg in segments:
        length = seg.stop - seg.start
        if seg.group in counts:
            per_channel[seg.group] = per_channel.get(seg.group, 0) + length // sizes[seg.group]
        else:
            fixed += length
    return Side(fixed, tuple(per_channel.items()))


def _layer_cost(cost_model: CostModel, layer: Layer) -> Callable[[int, int], float]:
    def cost(kept_in: int, kept_out: int) -> float:
        return cost_model.layer_cost(layer, kept_in, kept_out)
    return cost


def _layer_table(cost_model: CostModel, layer: Layer):
    price = getattr(cost_model, "layer_cost_table", None)
    if price is None:
        return None

    def table(ins: list[int], outs: list[int]):
        return price(layer, ins, outs)
    return table
