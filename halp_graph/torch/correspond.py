"""Which group of one capture is which group of another capture of the same network.

The fx capture of a module and the ONNX export of the same module number their groups
differently. Both list their layers (Conv, Gemm/MatMul with weights) in execution order,
and a layer's input and output axes are split into the same segments, so walking the two
layer lists side by side pairs every group that touches a layer. Group channel i is the
same channel on both sides (a segment holds its group's channels in order).

This is how a plan made on a module is applied to its ONNX export (and checked against
the slimmed module), and how a cost model priced on an ONNX export (a latency LUT) can
serve a pruner that works on the module.
"""

from __future__ import annotations

from halp_graph.errors import PlanError
from halp_graph.graph.groups import GroupSet, Layer
from halp_graph.plan import PruningPlan

_KIND = {"Conv": "conv", "ConvTranspose": "conv_transpose", "Gemm": "linear", "MatMul": "linear"}


class CorrespondenceError(PlanError):
    """The two captures do not describe the same layers."""


def _describe(layer: Layer) -> tuple:
    return (_KIND.get(layer.op_type, layer.op_type), layer.in_channels, layer.out_channels,
            layer.conv_groups)


def match_groups(src: GroupSet, dst: GroupSet) -> dict[str, str]:
    """{src group id: dst group id} for every group that a layer reads or writes."""
    if len(src.layers) != len(dst.layers):
        raise CorrespondenceError(f"the captures have {len(src.layers)} and {len(dst.layers)} "
                                  f"layers: not the same network")
    mapping: dict[str, str] = {}
    for a, b in zip(src.layers, dst.layers):
        if _describe(a) != _describe(b):
            raise CorrespondenceError(f"layer {a.name} {_describe(a)} does not match "
                                      f"{b.name} {_describe(b)}")
        for segs_a, segs_b in ((a.in_segments, b.in_segments), (a.out_segments, b.out_segments)):
            if [(s.start, s.stop) for s in segs_a] != [(s.start, s.stop) for s in segs_b]:
                raise CorrespondenceError(f"layers {a.name} and {b.name} split their channels "
                                          f"into different groups")
            for sa, sb in zip(segs_a, segs_b):
                if mapping.setdefault(sa.group, sb.group) != sb.group:
                    raise CorrespondenceError(f"group {sa.group} maps to both "
                                              f"{mapping[sa.group]} and {sb.group}")
                if src[sa.group].size != dst[sb.group].size:
                    raise CorrespondenceError(f"groups {sa.group} and {sb.group} differ in size")
    return mapping


def translate_plan(plan: PruningPlan, src: GroupSet, dst: GroupSet) -> PruningPlan:
    """The same channel choice expressed in `dst`'s group ids."""
    mapping = match_groups(src, dst)
    keep = {}
    for gid, idx in plan.keep.items():
        if gid not in mapping:
            raise CorrespondenceError(f"group {gid} touches no layer; it has no counterpart")
        keep[mapping[gid]] = list(idx)
    return PruningPlan(keep)
