"""What the solver needs to know about cost, whatever measures it.

A cost model prices every layer (a Conv, Gemm or MatMul with its weights, together with
whatever the target fuses into it) as a function of how many elements stay on its input
and output channel axes, and proposes, per group, the kept counts worth considering (the
edges of the latency staircase). Latency LUTs implement it for real devices;
`MacsCostModel` implements it with multiply-accumulates, for tests and for reporting.

A plan's predicted cost is the dense cost minus what each layer saves:
    predict(kept) = dense - sum over layers of (cost(layer, full) - cost(layer, kept)).
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

from .graph.groups import Group, GroupSet, Layer


@runtime_checkable
class CostModel(Protocol):
    unit: str  # "ms" for latency models, "MMAC" for MacsCostModel

    def layer_cost(self, layer: Layer, kept_in: int, kept_out: int) -> float:
        """Cost of `layer` with `kept_in` / `kept_out` elements left on its channel axes."""

    def candidate_counts(self, group: Group) -> list[int]:
        """Sorted kept counts to consider for `group`: multiples of group.step within
        [group.min_keep, group.size], always including group.size."""

    def dense_cost(self) -> float:
        """Cost of the unpruned model as a whole (for latency: measured, not summed)."""


def kept_elements(groups: GroupSet, kept: dict[str, int]) -> dict[str, tuple[int, int]]:
    """{layer name: (kept input elements, kept output elements)} for kept group counts."""
    sizes = {g.id: g.size for g in groups}
    return {layer.name: (layer.kept_in(kept, sizes), layer.kept_out(kept, sizes))
            for layer in groups.layers}


def predict(model: CostModel, groups: GroupSet, kept: dict[str, int]) -> float:
    """Dense cost minus the savings of every layer under `kept` (group id -> count)."""
    saving = 0.0
    sizes = {g.id: g.size for g in groups}
    for layer in groups.layers:
        full = model.layer_cost(layer, layer.in_channels, layer.out_channels)
        now = model.layer_cost(layer, layer.kept_in(kept, sizes), layer.kept_out(kept, sizes))
        saving += full - now
    return model.dense_cost() - saving


def all_counts(group: Group) -> list[int]:
    """Every admissible kept count of a group (respecting min_keep and step)."""
    step = group.step
    start = max(group.min_keep, 0)
    start = int(math.ceil(start / step) * step) if start else 0
    counts = list(range(start, group.size + 1, step))
    return counts if counts and counts[-1] == group.size else counts + [group.size]


class MacsCostModel:
    """Multiply-accumulates of every layer, in millions (MMAC)."""

    unit = "MMAC"

    def __init__(self, groups: GroupSet, granularity: int = 1):
        self.groups = groups
        self.granularity = granularity
        self._spatial = {layer.name: _output_positions(groups, layer) for layer in groups.layers}
        self._kernel = {layer.name: _kernel_size(groups, layer) for layer in groups.layers}

    def layer_cost(self, layer: Layer, kept_in: int, kept_out: int) -> float:
        per_group_in = kept_in / max(1, _effective_groups(layer, kept_in))
        return kept_out * per_group_in * self._kernel[layer.name] * self._spatial[layer.name] / 1e6

    def candidate_counts(self, group: Group) -> list[int]:
        counts = all_counts(group)
        if self.granularity <= 1:
            return counts
        keep = [c for c in counts if c % self.granularity == 0 or c == group.size or c == counts[0]]
        return sorted(set(keep))

    def dense_cost(self) -> float:
        return sum(self.layer_cost(layer, layer.in_channels, layer.out_channels)
                   for layer in self.groups.layers)


def _effective_groups(layer: Layer, kept_in: int) -> int:
    """A depthwise conv keeps one group per kept input channel; a grouped conv keeps its count."""
    if layer.conv_groups <= 1:
        return 1
    if layer.conv_groups == layer.in_channels:  # depthwise
        return max(1, kept_in)
    return layer.conv_groups


def _kernel_size(groups: GroupSet, layer: Layer) -> int:
    shape = groups.graph.shape(layer.weight) or ()
    if layer.op_type in ("Conv", "ConvTranspose"):
        return int(math.prod(shape[2:])) if len(shape) > 2 else 1
    return 1


def _output_positions(groups: GroupSet, layer: Layer) -> int:
    """Output positions each output channel is computed at (spatial size, tokens, batch
    excluded)."""
    node = groups.graph.nodes_by_name[layer.name]
    shape = groups.graph.shape(node.outputs[0] if layer.op_type != "ConvTranspose" else node.inputs[0]) or ()
    dims = [d for i, d in enumerate(shape) if i != layer.out_key.axis and i != 0]
    return int(math.prod(d for d in dims if isinstance(d, int))) if dims else 1
