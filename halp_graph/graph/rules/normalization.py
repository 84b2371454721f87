"""Rules for normalisation, pooling and reductions.

BatchNormalization and InstanceNormalization work per channel: their parameters join the
channel's group. Ops that mix values across an axis (LayerNorm, Softmax, LRN, a reduction)
carry the other axes through and freeze the axis they mix when it carries channels:
removing a channel there changes every other channel's value.
"""

from __future__ import annotations

from ..axes import AxisKey, Outcome, Span
from ..ir import Node
from .base import RuleContext, rule


def _carry(ctx: RuleContext, node: Node, axis: int, names: list[str]) -> Outcome:
    out = Outcome()
    anchor = ctx.span(node, names[0], axis)
    for name in names[1:]:
        if name:
            out.tie(anchor, ctx.span(node, name, axis))
    return out


def _data_names(node: Node) -> list[str]:
    return [node.inputs[0]] + [o for o in node.outputs if o]


@rule("BatchNormalization", "InstanceNormalization")
def per_channel_norm(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, y = node.inputs[0], node.outputs[0]
    statistics = node.op_type == "InstanceNormalization" or _bn_training(ctx, node)
    if key.tensor in (x, y) and key.axis != 1 and not key.is_param:
        if statistics and key.axis >= (2 if node.op_type == "InstanceNormalization" else 0):
            return Outcome().freeze(key, f"{node.op_type} {node.name} computes statistics over "
                                         f"axis {key.axis}")
        return _carry(ctx, node, key.axis, [x, y])
    c = ctx.dim(x, 1)
    x_span = Span(ctx.key(node, x, 1), 0, c)
    out = Outcome().tie(x_span, Span(AxisKey(y, 1), 0, c))
    n_params = 4 if node.op_type == "BatchNormalization" else 2
    for slot in range(1, 1 + n_params):
        if node.input(slot):  # parameters may be computed (batch statistics of a weight)
            out.tie(x_span, Span(ctx.slot_key(node, slot, 0), 0, c))
    if _bn_training(ctx, node):
        for extra in node.outputs[1:3]:  # running mean and variance, per channel
            if extra:
                out.tie(x_span, Span(AxisKey(extra, 0), 0, c))
    return out


def _bn_training(ctx: RuleContext, node: Node) -> bool:
    """Training mode: an attribute from opset 14, the extra statistics outputs before."""
    if node.op_type != "BatchNormalization":
        return False
    if ctx.graph.opset >= 14:
        return bool(node.attr("training_mode", 0))
    return any(o for o in node.outputs[1:])


@rule("LayerNormalization")
def layer_norm(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x = node.inputs[0]
    rank = ctx.rank(x)
    first = node.attr("axis", -1) % rank
    if key.axis >= first:
        return Outcome().freeze(key, f"LayerNormalization {node.name} normalises over the channel axis")
    names = [x] + [o for o in node.outputs if o and ctx.rank(o) == rank]
    return _carry(ctx, node, key.axis, names)


@rule("Softmax", "LogSoftmax", "Hardmax")
def softmax(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x = node.inputs[0]
    rank = ctx.rank(x)
    if ctx.graph.opset >= 13:
        mixed = {node.attr("axis", -1) % rank}
    else:  # before opset 13 the op flattened every axis from `axis` on
        mixed = set(range(node.attr("axis", 1) % rank, rank))
    if key.axis in mixed:
        return Outcome().freeze(key, f"{node.op_type} {node.name} normalises over the channel axis")
    return _carry(ctx, node, key.axis, _data_names(node))


@rule("LRN", "GroupNormalization", "MeanVarianceNormalization", "LpNormalization")
def cross_channel_norm(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    rank = ctx.rank(node.inputs[0])
    op = node.op_type
    if op == "LpNormalization":
        mixed = {node.attr("axis", -1) % rank}
    elif op == "MeanVarianceNormalization":
        mixed = {a % rank for a in node.attr("axes", [0, 2, 3])}
    else:  # LRN mixes neighbouring channels; GroupNorm mixes channels within a group
        mixed = set(range(1, rank))
    if key.axis in mixed:
        return Outcome().freeze(key, f"{op} {node.name} mixes values across the channel axis")
    return _carry(ctx, node, key.axis, [node.inputs[0], node.outputs[0]])


POOLS = ("MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool",
         "GlobalLpPool", "MaxRoiPool")


@rule(*POOLS)
def pool(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    if key.axis >= 2:
        return Outcome().freeze(key, f"{node.op_type} {node.name} pools over axis {key.axis}")
    if node.op_type == "MaxPool" and len(node.outputs) > 1 and node.outputs[1] \
            and ctx.graph.users(node.outputs[1]):
        return Outcome().freeze(key, f"MaxPool {node.name} returns indices, which encode channel positions")
    return _carry(ctx, node, key.axis, [node.inputs[0], node.outputs[0]])


REDUCES = ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
           "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin")


@rule(*REDUCES)
def reduce(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, y = node.inputs[0], node.outputs[0]
    rank = ctx.rank(x)
    if node.op_type in ("ArgMax", "ArgMin"):
        axes = [node.attr("axis", 0)]
    else:
        axes = ctx.ints(node, "axes", 1)
        if axes is None or len(axes) == 0:
            axes = [] if node.attr("noop_with_empty_axes", 0) else list(range(rank))
    axes = sorted({a % rank for a in axes})
    keep = node.attr("keepdims", 1)

    def to_out(a: int) -> int | None:
        if a in axes:
            return None
        return a if keep else a - sum(1 for r in axes if r < a)

    if key.tensor == x and not key.is_param:
        in_axis = key.axis
    else:
        mapping = {to_out(a): a for a in range(rank) if to_out(a) is not None}
        in_axis = mapping[key.axis]
    out_axis = to_out(in_axis)
    if out_axis is None:
        return Outcome().freeze(key, f"{node.op_type} {node.name} reduces over the channel axis")
    c = ctx.dim(x, in_axis)
    return Outcome().tie(Span(ctx.key(node, x, in_axis), 0, c), Span(AxisKey(y, out_axis), 0, c))
