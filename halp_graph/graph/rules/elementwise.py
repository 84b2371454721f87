"""Rules for ops that act element by element: activations, casts, and broadcasting math.

Unary ops carry every axis through unchanged. Broadcasting ops align their inputs from the
right (numpy rules): an input whose aligned axis has the channel count is tied to the
output (a residual add joins two streams, a squeeze-excite scale [N,C,1,1] ties the
excitation to the feature map); an input with size 1 there is broadcast and stays apart
(a spatial attention map [N,1,H,W] does not couple with the C channels it scales).
"""

from __future__ import annotations

from ..axes import AxisKey, Outcome
from ..ir import Node
from .base import RuleContext, rule

UNARY = (
    "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
    "Softplus", "Softsign", "Gelu", "Mish", "Erf", "Exp", "Log", "Sqrt", "Abs", "Neg",
    "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "ThresholdedRelu", "Shrink",
    "Not", "IsNaN", "IsInf", "Identity", "Cast", "Clip", "Dropout", "CastLike", "Swish",
)
BROADCAST = (
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod", "Where", "PRelu",
    "BitwiseAnd", "BitwiseOr", "BitwiseXor",
)
JOIN_OPS = ("Add", "Sub", "Sum", "Max", "Min", "Mean")
SCALE_OPS = ("Mul", "Div")


@rule(*UNARY)
def unary(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    """Input 0 and every output share all axes (Dropout's mask output included)."""
    axis = key.axis
    out = Outcome()
    names = [node.inputs[0]] + [o for o in node.outputs if o]
    anchor = ctx.span(node, names[0], axis)
    for name in names[1:]:
        out.tie(anchor, ctx.span(node, name, axis))
    return out


@rule(*BROADCAST)
def broadcast(ctx: RuleContext, node: Node, key: AxisKey) -> Outcome:
    """Right-aligned numpy broadcasting; size-1 axes are broadcast, not tied."""
    y = node.outputs[0]
    rank = ctx.rank(y)
    if key.tensor == y and not key.is_param:
        out_axis = key.axis
    else:
        out_axis = key.axis + rank - ctx.rank(key.tensor)
    size = ctx.dim(y, out_axis)
    out = Outcome()
    anchor = ctx.span(node, y, out_axis)
    for slot, name in enumerate(node.inputs):
        if not name:
            continue
        in_axis = out_axis - (rank - ctx.rank(name))
        if in_axis < 0:
            continue
        d = ctx.dim(name, in_axis)
        if d == size:
            out.tie(anchor, ctx.full(ctx.slot_key(node, slot, in_axis)))
        elif d != 1:
            out.freeze(key, f"{node.op_type} {node.name} broadcasts size {d} against {size}")
    return out
