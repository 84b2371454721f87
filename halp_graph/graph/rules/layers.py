"""Rules for the layers that own channels: Conv, ConvTranspose, Gemm, MatMul with weights.

These are where channel spaces start. A plain conv ties its input channels to the weight's
axis 1 and its output channels to the weight's axis 0 and the bias. A depthwise conv
(group == input channels) ties input channel i to its `multiplier` output channels. A
grouped conv keeps its weight's axis 1 shared across groups, so every group must keep the
same number of channels: that is a block constraint, not a tie.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..axes import AxisKey, Outcome, Span
from ..ir import Node
from .base import RuleContext, rule, seeds


@dataclass(frozen=True)
class LayerAxes:
    """The input and output channel axes of a layer, as the latency model sees them."""

    node: str
    op_type: str
    in_key: AxisKey
    out_key: AxisKey
    weight: str
    groups: int = 1


def _conv_kind(ctx: RuleContext, node: Node) -> str:
    g = node.attr("group", 1)
    if g == 1:
        return "plain"
    cin = ctx.dim(node.inputs[0], 1)
    return "depthwise" if g == cin else "grouped"


@rule("Conv")
def conv(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    bias = node.input(2)
    out = Outcome()
    if not ctx.graph.is_constant_derived(w):
        return out.freeze(key, f"Conv {node.name} has a weight computed from its inputs")
    if key.tensor in (x, y) and key.axis != 1 and not key.is_param:
        if _keeps_positions(ctx, node, key.axis):
            return out.tie(ctx.span(node, x, key.axis), ctx.span(node, y, key.axis))
        return out.freeze(key, f"Conv {node.name} mixes axis {key.axis}")
    kind = _conv_kind(ctx, node)
    g = node.attr("group", 1)
    x_key, y_key = AxisKey(x, 1), AxisKey(y, 1)
    if kind == "grouped" and not ctx.is_const(w):
        return out.freeze(key, f"grouped Conv {node.name} computes its weight at run time")
    # a weight computed from constants (weight standardisation) is followed like any
    # tensor back to its initializers
    w_out = ctx.slot_key(node, 1, 0)
    b_out = ctx.param_key(node, 2, 0) if bias else None
    cin, cout = ctx.dim(x, 1), ctx.dim(y, 1)
    if kind == "depthwise":
        mult = cout // cin
        anchor = Span(x_key, 0, cin)
        out.tie(anchor, Span(y_key, 0, cin, mult))
        out.tie(anchor, Span(w_out, 0, cin, mult))
        if b_out:
            out.tie(anchor, Span(b_out, 0, cin, mult))
        return out
    out.tie(Span(y_key, 0, cout), Span(w_out, 0, cout))
    if b_out:
        out.tie(Span(y_key, 0, cout), Span(b_out, 0, cout))
    if kind == "plain":
        out.tie(Span(x_key, 0, cin), Span(ctx.slot_key(node, 1, 1), 0, cin))
    else:
        out.blocks += [(x_key, g), (y_key, g)]
    return out


def _keeps_positions(ctx: RuleContext, node: Node, axis: int) -> bool:
    """True when output position i of `axis` is input position i: the batch axis, or a
    spatial axis the conv's window neither widens, strides nor pads (a 1x1 conv's H, W)."""
    if axis == 0:
        return True
    rank = ctx.rank(node.inputs[0])
    i = axis - 2
    kernel = node.attr("kernel_shape") or list(ctx.shape(node.inputs[1])[2:])
    strides = node.attr("strides") or [1] * (rank - 2)
    pads = node.attr("pads") or [0] * (2 * (rank - 2))
    return (node.attr("auto_pad", "NOTSET") in ("NOTSET", "VALID") and kernel[i] == 1
            and strides[i] == 1 and pads[i] == 0 and pads[i + rank - 2] == 0)


@seeds("Conv", "ConvTranspose")
def conv_seeds(ctx: RuleContext, node: Node) -> list[AxisKey]:
    return [AxisKey(node.inputs[0], 1), AxisKey(node.outputs[0], 1)]


@rule("ConvTranspose")
def conv_transpose(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    x, w, y = node.inputs[0], node.inputs[1], node.outputs[0]
    bias = node.input(2)
    out = Outcome()
    if not ctx.is_const(w):
        return out.freeze(key, f"ConvTranspose {node.name} has a weight computed at run time")
    if key.tensor in (x, y) and key.axis != 1 and not key.is_param:
        return out.freeze(key, f"ConvTranspose {node.name} mixes axis {key.axis}")
    g = node.attr("group", 1)
    cin, cout = ctx.dim(x, 1), ctx.dim(y, 1)
    x_key, y_key = AxisKey(x, 1), AxisKey(y, 1)
    if g == 1:
        out.tie(Span(x_key, 0, cin), Span(ctx.param_key(node, 1, 0), 0, cin))
        out.tie(Span(y_key, 0, cout), Span(ctx.param_key(node, 1, 1), 0, cout))
        if bias:
            out.tie(Span(y_key, 0, cout), Span(ctx.param_key(node, 2, 0), 0, cout))
        return out
    if g == cin and cout % cin == 0:
        mult = cout // cin
        out.tie(Span(x_key, 0, cin), Span(y_key, 0, cin, mult))
        out.tie(Span(x_key, 0, cin), Span(ctx.param_key(node, 1, 0), 0, cin))
        if bias:
            out.tie(Span(x_key, 0, cin), Span(ctx.param_key(node, 2, 0), 0, cin, mult))
        return out
    out.freeze(x_key, f"grouped ConvTranspose {node.name} (group={g}) is not supported")
    return out.freeze(y_key, f"grouped ConvTranspose {node.name} (group={g}) is not supported")


def _gemm_axes(node: Node) -> tuple[int, int, int, int]:
    """(A's contraction axis, A's row axis, B's contraction axis, B's output axis)."""
    ta, tb = node.attr("transA", 0), node.attr("transB", 0)
    return (0, 1, 1, 0) if ta and tb else (0, 1, 0, 1) if ta else (1, 0, 1, 0) if tb else (1, 0, 0, 1)


@rule("Gemm")
def gemm(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
    c = node.input(2)
    out = Outcome()
    if not ctx.is_const(b):
        return out.freeze(key, f"Gemm {node.name} multiplies two activations")
    ka, ma, kb, nb = _gemm_axes(node)
    if (key.tensor, key.axis) in ((a, ma), (y, 0)):
        return out.freeze(key, f"Gemm {node.name} mixes its row axis")
    if key.tensor == a:
        k = ctx.dim(a, ka)
        return out.tie(Span(ctx.key(node, a, ka), 0, k), Span(ctx.param_key(node, 1, kb), 0, k))
    n = ctx.dim(y, 1)
    out.tie(Span(AxisKey(y, 1), 0, n), Span(ctx.param_key(node, 1, nb), 0, n))
    if c:
        c_rank = ctx.rank(c)
        if c_rank >= 1 and ctx.dim(c, c_rank - 1) == n and n > 1:
            out.tie(Span(AxisKey(y, 1), 0, n), Span(ctx.param_key(node, 2, c_rank - 1), 0, n))
    return out


@seeds("Gemm")
def gemm_seeds(ctx: RuleContext, node: Node) -> list[AxisKey]:
    if not ctx.is_const(node.inputs[1]):
        return []
    return [AxisKey(node.inputs[0], _gemm_axes(node)[0]), AxisKey(node.outputs[0], 1)]


@rule("MatMul")
def matmul(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    """A @ B with numpy semantics; B constant and 2-D is a Linear layer.

    Only the ties of the queried axis are returned: the contraction axis of A and B, the
    output columns with B's last axis, the rows with A's rows, or a batch axis.
    """
    a, b, y = node.inputs[0], node.inputs[1], node.outputs[0]
    ra, rb, ry = ctx.rank(a), ctx.rank(b), ctx.rank(y)
    out = Outcome()
    if ra < 2 or rb < 2:
        return out.freeze(key, f"MatMul {node.name} with a 1-D operand is not supported")
    if ctx.is_const(a):
        return out.freeze(key, f"MatMul {node.name} has a constant left operand")
    role = _matmul_role(key, a, b, y, ra, rb, ry)
    if role == "k":
        k = ctx.dim(a, ra - 1)
        return out.tie(Span(AxisKey(a, ra - 1), 0, k), Span(ctx.slot_key(node, 1, rb - 2), 0, k))
    if role == "n":
        n = ctx.dim(y, ry - 1)
        return out.tie(Span(AxisKey(y, ry - 1), 0, n), Span(ctx.slot_key(node, 1, rb - 1), 0, n))
    if role == "m":
        m = ctx.dim(y, ry - 2)
        return out.tie(Span(AxisKey(y, ry - 2), 0, m), Span(AxisKey(a, ra - 2), 0, m))
    axis = key.axis + ry - ctx.rank(key.tensor) if key.tensor != y else key.axis
    size = ctx.dim(y, axis)
    for name, rank, slot in ((a, ra, 0), (b, rb, 1)):
        src = axis - (ry - rank)
        if src >= 0 and ctx.dim(name, src) == size:
            out.tie(Span(AxisKey(y, axis), 0, size), Span(ctx.slot_key(node, slot, src), 0, size))
    return out


def _matmul_role(key: AxisKey, a: str, b: str, y: str, ra: int, rb: int, ry: int) -> str:
    if key.tensor == a and key.axis == ra - 1 or key.tensor == b and key.axis == rb - 2:
        return "k"
    if key.tensor == y and key.axis == ry - 1 or key.tensor == b and key.axis == rb - 1:
        return "n"
    if key.tensor == y and key.axis == ry - 2 or key.tensor == a and key.axis == ra - 2:
        return "m"
    return "batch"


@seeds("MatMul")
def matmul_seeds(ctx: RuleContext, node: Node) -> list[AxisKey]:
    info = layer_axes(ctx, node)
    return [info.in_key, info.out_key] if info else []


def layer_axes(ctx: RuleContext, node: Node) -> LayerAxes | None:
    """The channel axes of a weight-carrying layer, or None if `node` is not one."""
    if node.domain not in ("", "ai.onnx"):
        return None
    op = node.op_type
    if op in ("Conv", "ConvTranspose") and ctx.graph.is_constant_derived(node.inputs[1]):
        return LayerAxes(node.name, op, AxisKey(node.inputs[0], 1), AxisKey(node.outputs[0], 1),
                         node.inputs[1], node.attr("group", 1))
    if op == "Gemm" and ctx.is_const(node.inputs[1]):
        return LayerAxes(node.name, op, AxisKey(node.inputs[0], _gemm_axes(node)[0]),
                         AxisKey(node.outputs[0], 1), node.inputs[1])
    if op == "MatMul" and ctx.is_const(node.inputs[1]) and not ctx.is_const(node.inputs[0]):
        shape_b = ctx.graph.shape(node.inputs[1])
        shape_a = ctx.graph.shape(node.inputs[0])
        if shape_b is None or shape_a is None or len(shape_b) != 2:
            return None
        return LayerAxes(node.name, op, AxisKey(node.inputs[0], len(shape_a) - 1),
                         AxisKey(node.outputs[0], len(shape_a) - 1), node.inputs[1])
    return None
