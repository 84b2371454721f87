"""Coupled channel groups: what may only be removed together, and where it lives.

A `Group` is a set of channels (indexed 0..size-1) that every member tensor carries at a
known place: member m holds group channel i at elements
[(offset + i) * block, (offset + i + 1) * block) of its axis. A `GroupSet` is the result of
grouping one model: its groups, the layers that produce and consume them, and the
segments of every channel axis, which is what rewrites and latency models work from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from ..errors import PlanError
from .axes import AxisKey
from .ir import Graph

GROUPS_SCHEMA = "halp_graph.groups/1"


@dataclass
class Member:
    tensor: str
    axis: int
    elem_start: int  # first element of channel 0 on the axis
    block: int  # elements per group channel
    use: str | None = None  # "node#slot" when the member is a constant as one op uses it

    @property
    def key(self) -> AxisKey:
        return AxisKey(self.tensor, self.axis, self.use)

    @property
    def is_param(self) -> bool:
        return self.use is not None

    @property
    def node(self) -> str | None:
        return self.use.rsplit("#", 1)[0] if self.use else None

    @property
    def slot(self) -> int | None:
        return int(self.use.rsplit("#", 1)[1]) if self.use else None

    def elements(self, channels) -> np.ndarray:
        """Element indices along the axis that hold the given group channels."""
        channels = np.asarray(channels, dtype=np.int64).reshape(-1, 1)
        return (self.elem_start + channels * self.block + np.arange(self.block)).reshape(-1)

    def to_json(self, size: int) -> dict:
        offset = self.elem_start // self.block if self.elem_start % self.block == 0 else None
        d = {"tensor": self.tensor, "axis": self.axis, "start": 0, "stop": size,
             "offset": offset, "block": self.block}
        if self.use:
            d["param_of"] = self.node
            d["input_slot"] = self.slot
        return d


@dataclass
class Group:
    id: str
    size: int
    members: list[Member]
    reasons: list[str] = field(default_factory=list)
    cut: bool = False
    blocks: int = 1
    divisor: int = 1
    producers: list[str] = field(default_factory=list)  # layer node names
    consumers: list[str] = field(default_factory=list)

    @property
    def prunable(self) -> bool:
        return not self.reasons

    @property
    def reason(self) -> str | None:
        if not self.reasons:
            return None
        shown = "; ".join(self.reasons[:3])
        more = len(self.reasons) - 3
        return shown + (f"; and {more} more" if more > 0 else "")

    @property
    def min_keep(self) -> int:
        """Fewest channels a plan may keep: a graph cut cannot be emptied."""
        return max(self.blocks, self.divisor) if self.cut else 0

    @property
    def step(self) -> int:
        """Kept counts must be multiples of this (equal blocks, divisor)."""
        return int(np.lcm(self.blocks, self.divisor))

    def activation_members(self) -> list[Member]:
        return [m for m in self.members if not m.is_param]

    def to_json(self) -> dict:
        return {"id": self.id, "size": self.size, "prunable": self.prunable, "reason": self.reason,
                "cut": self.cut, "blocks": self.blocks, "divisor": self.divisor,
                "min_keep": self.min_keep, "producers": self.producers,
                "consumers": self.consumers,
                "members": [m.to_json(self.size) for m in self.members]}


@dataclass
class Segment:
    """A run of elements on one channel axis that belongs to one group."""

    start: int
    stop: int
    group: str


@dataclass
class Layer:
    """A weight-carrying op and the groups on its input and output channel axes.

    Segments are in elements of the axis: a Gemm after a Flatten sees each channel of its
    input group as a block of H*W features.
    """

    name: str
    op_type: str
    weight: str
    conv_groups: int
    in_key: AxisKey
    out_key: AxisKey
    in_segments: list[Segment]
    out_segments: list[Segment]

    @property
    def in_channels(self) -> int:
        return sum(s.stop - s.start for s in self.in_segments)

    @property
    def out_channels(self) -> int:
        return sum(s.stop - s.start for s in self.out_segments)

    def kept_in(self, kept: dict[str, int], sizes: dict[str, int]) -> int:
        """Input elements left when each group keeps `kept[g]` of its `sizes[g]` channels."""
        return _kept(self.in_segments, kept, sizes)

    def kept_out(self, kept: dict[str, int], sizes: dict[str, int]) -> int:
        return _kept(self.out_segments, kept, sizes)

    def input_groups(self) -> list[str]:
        return list(dict.fromkeys(s.group for s in self.in_segments))

    def output_groups(self) -> list[str]:
        return list(dict.fromkeys(s.group for s in self.out_segments))


class GroupSet:
    """The groups of one model, with its layers and the per-axis segment map."""

    def __init__(self, graph: Graph, groups: list[Group], layers: list[Layer],
                 segments: dict[AxisKey, list[Segment]],
                 minimal_cut: Callable[[Iterable[str]], list[str] | None] | None = None):
        self.graph = graph
        # emptied group ids -> None if the outputs stay reachable from the inputs, else a
        # minimal disconnecting subset of them (graph.cuts.Reachability.minimal_cut)
        self.minimal_cut = minimal_cut or (lambda emptied: None)
        self.groups = groups
        self.layers = layers
        self.segments = segments
        self.by_id = {g.id: g for g in groups}
        self.layers_by_name = {layer.name: layer for layer in layers}

    def __len__(self) -> int:
        return len(self.groups)

    def __iter__(self):
        return iter(self.groups)

    def __getitem__(self, gid: str) -> Group:
        try:
            return self.by_id[gid]
        except KeyError:
            raise PlanError(f"unknown group {gid!r} (the model has {len(self.groups)} groups, "
                            f"g0..g{len(self.groups) - 1})") from None

    def prunable(self) -> list[Group]:
        return [g for g in self.groups if g.prunable]

    def to_json(self) -> dict:
        return {"schema": GROUPS_SCHEMA, "groups": [g.to_json() for g in self.groups]}

    def summary(self) -> dict:
        return {"groups": len(self.groups), "prunable": len(self.prunable()),
                "layers": len(self.layers),
                "prunable_channels": sum(g.size for g in self.prunable())}


def _kept(segments: list[Segment], kept: dict[str, int], sizes: dict[str, int]) -> int:
    total = 0
    for seg in segments:
        length = seg.stop - seg.start
        if seg.group in kept:
            total += kept[seg.group] * (length // sizes[seg.group])
        else:
            total += length
    return total
