"""Which channel counts each layer can actually take, from the model's groups.

A layer's input axis is made of segments, each belonging to a group. A frozen group's
segment never changes; a prunable group's segment keeps `k * block` elements for every
admissible kept count k (a multiple of the group's step, at least its min_keep; a Gemm
after a Flatten sees each channel as a block of H*W features). The reachable totals are
the full size minus multiples of the gcd of the segments' quanta, down to the smallest
total the groups allow. Sampling only those counts saves timing counts no plan can reach.
"""

from __future__ import annotations

import math

from ..graph.groups import GroupSet, Layer, Segment
from .surface import AxisDomain


def axis_domain(groups: GroupSet, segments: list[Segment], total: int) -> AxisDomain:
    quantum, low, free = 0, 0, False
    for seg in segments:
        length = seg.stop - seg.start
        group = groups.by_id.get(seg.group)
        if group is None or not group.prunable:
            low += length
            continue
        block = max(1, length // max(group.size, 1))
        free = True
        quantum = math.gcd(quantum, group.step * block)
        low += group.min_keep * block
    if not free:
        return AxisDomain(total, total, 1, False)
    quantum = max(quantum, 1)
    return AxisDomain(max(low, 1), total, quantum, True)


def layer_domains(groups: GroupSet, layer: Layer) -> tuple[AxisDomain, AxisDomain]:
    return (axis_domain(groups, layer.in_segments, layer.in_channels),
            axis_domain(groups, layer.out_segments, layer.out_channels))
