"""How torch.nn modules become neutral (ONNX-named) ops for the fx front end.

Each converter receives the fx node's context and the module, emits one or more ops and
returns the neutral name of the output. Parameters enter the graph as constants named by
their qualified names, so group members lead back to the module attribute to slice.
A module without a converter (and any user-declared leaf module) becomes one opaque op:
the channels that reach it freeze.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .fx_graph import FxNodeContext

ACTIVATIONS: dict[type, tuple[str, dict]] = {
    nn.ReLU: ("Relu", {}), nn.ReLU6: ("Clip", {"min": 0.0, "max": 6.0}),
    nn.Sigmoid: ("Sigmoid", {}), nn.Tanh: ("Tanh", {}), nn.GELU: ("Gelu", {}),
    nn.Hardswish: ("HardSwish", {}), nn.Hardsigmoid: ("HardSigmoid", {}),
    nn.Mish: ("Mish", {}), nn.Softplus: ("Softplus", {}), nn.Softsign: ("Softsign", {}),
    nn.ELU: ("Elu", {}), nn.SELU: ("Selu", {}), nn.CELU: ("Celu", {}),
    nn.Hardtanh: ("Clip", {}), nn.Identity: ("Identity", {}), nn.Dropout: ("Identity", {}),
    nn.Dropout1d: ("Identity", {}), nn.Dropout2d: ("Identity", {}), nn.Dropout3d: ("Identity", {}),
    nn.AlphaDropout: ("Identity", {}),
}


def _input(ctx: FxNodeContext) -> str | None:
    return ctx.tensor(ctx.arg(0, "input"))


def conv(ctx: FxNodeContext, m: nn.modules.conv._ConvNd, q: str) -> str:
    b = ctx.b
    inputs = [_input(ctx), b.param(q, "weight")]
    if m.bias is not None:
        inputs.append(b.param(q, "bias"))
    attrs = {"group": m.groups, "kernel_shape": list(m.kernel_size), "strides": list(m.stride),
             "dilations": list(m.dilation)}
    if isinstance(m.padding, str):
        attrs["auto_pad"] = "SAME_UPPER" if m.padding == "same" else "VALID"
    else:
        attrs["pads"] = list(m.padding) * 2
    op = "ConvTranspose" if isinstance(m, nn.modules.conv._ConvTransposeNd) else "Conv"
    return ctx.emit(op, inputs, attrs, module=q)


def linear(ctx: FxNodeContext, m: nn.Linear, q: str) -> str:
    return emit_linear(ctx, _input(ctx), ctx.b.param(q, "weight"),
                       ctx.b.param(q, "bias") if m.bias is not None else None, module=q)


def emit_linear(ctx: FxNodeContext, x: str, weight: str, bias: str | None,
                module: str | None = None) -> str:
    """y = x W^T + b: a Gemm for 2-D inputs (as the exporters write it), else MatMul + Add
    with the weight seen transposed."""
    b = ctx.b
    if len(ctx.shape(x)) == 2:
        inputs = [x, weight] + ([bias] if bias else [])
        return ctx.emit("Gemm", inputs, {"transB": 1}, module=module)
    ref = b.params.get(weight)
    if ref is not None and ref.axes == (0, 1):
        weight = b.param(ref.module, ref.name, axes=(1, 0), suffix=".T")
    if bias is None:
        return ctx.emit("MatMul", [x, weight], module=module)
    y = ctx.out()
    product = b.data_shape(b.fresh(f"{ctx.name}.matmul"), ctx.meta.shape)
    b.emit(ctx.name, "MatMul", [x, weight], [product], module=module)
    b.emit(f"{ctx.name}.bias", "Add", [product, bias], [y])
    return y


def batch_norm(ctx: FxNodeContext, m: nn.modules.batchnorm._NormBase, q: str) -> str:
    b = ctx.b
    names = ["weight", "bias", "running_mean", "running_var"]
    inputs = [_input(ctx)] + [b.param(q, n) if getattr(m, n, None) is not None else "" for n in names]
    op = "InstanceNormalization" if isinstance(m, nn.modules.instancenorm._InstanceNorm) else "BatchNormalization"
    if op == "InstanceNormalization":
        inputs = inputs[:3]
    while inputs[-1] == "":
        inputs.pop()
    return ctx.emit(op, inputs, {"epsilon": m.eps}, module=q)


def layer_norm(ctx: FxNodeContext, m: nn.LayerNorm, q: str) -> str:
    b = ctx.b
    inputs = [_input(ctx)]
    if m.elementwise_affine:
        inputs.append(b.param(q, "weight"))
        if getattr(m, "bias", None) is not None:
            inputs.append(b.param(q, "bias"))
    return ctx.emit("LayerNormalization", inputs,
                    {"axis": -len(m.normalized_shape), "epsilon": m.eps}, module=q)


def group_norm(ctx: FxNodeContext, m: nn.GroupNorm, q: str) -> str:
    inputs = [_input(ctx)]
    if m.affine:
        inputs += [ctx.b.param(q, "weight"), ctx.b.param(q, "bias")]
    return ctx.emit("GroupNormalization", inputs, {"num_groups": m.num_groups, "epsilon": m.eps}, module=q)


def activation(ctx: FxNodeContext, m: nn.Module, q: str) -> str:
    if isinstance(m, nn.LeakyReLU):
        op, attrs = "LeakyRelu", {"alpha": m.negative_slope}
    else:  # the first matching class: ReLU6 is listed before its base class Hardtanh
        op, attrs = next(v for cls, v in ACTIVATIONS.items() if isinstance(m, cls))
        if isinstance(m, nn.Hardtanh) and not isinstance(m, nn.ReLU6):
            attrs = {"min": m.min_val, "max": m.max_val}
    return ctx.emit(op, [_input(ctx)], attrs, module=q)


def silu(ctx: FxNodeContext, m: nn.Module, q: str) -> str:
    return emit_silu(ctx, _input(ctx), module=q)


def emit_silu(ctx: FxNodeContext, x: str, module: str | None = None) -> str:
    """x * sigmoid(x), as the exporters write SiLU."""
    b = ctx.b
    gate = b.data_shape(b.fresh(f"{ctx.name}.sigmoid"), ctx.meta.shape)
    b.emit(f"{ctx.name}.sigmoid", "Sigmoid", [x], [gate], module=module)
    return ctx.emit("Mul", [x, gate], module=module)


def prelu(ctx: FxNodeContext, m: nn.PReLU, q: str) -> str:
    x = _input(ctx)
    rank = len(ctx.shape(x))
    axes = (0,) + (None,) * max(0, rank - 2) if m.num_parameters > 1 else (0,)
    return ctx.emit("PRelu", [x, ctx.b.param(q, "weight", axes=axes, suffix=".slope")], module=q)


def softmax(ctx: FxNodeContext, m: nn.Module, q: str) -> str:
    dim = -3 if isinstance(m, nn.Softmax2d) else m.dim
    if dim is None:
        return ctx.opaque(type(m).__name__)
    return ctx.emit("Softmax", [_input(ctx)], {"axis": dim}, module=q)


def pool(ctx: FxNodeContext, m: nn.Module, q: str):
    if not ctx.output_is_tensor():  # return_indices=True
        return ctx.opaque(type(m).__name__)
    is_max = isinstance(m, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd))
    adaptive = isinstance(m, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd))
    if isinstance(m, nn.modules.pooling._LPPoolNd):
        return ctx.emit("LpPool", [_input(ctx)], module=q)
    if adaptive and all(d == 1 for d in ctx.meta.shape[2:]):
        return ctx.emit("GlobalMaxPool" if is_max else "GlobalAveragePool", [_input(ctx)], module=q)
    return ctx.emit("MaxPool" if is_max else "AveragePool", [_input(ctx)],
                    {"adaptive": int(adaptive)}, module=q)


def flatten(ctx: FxNodeContext, m: nn.Flatten, q: str) -> str:
    x = _input(ctx)
    rank = len(ctx.shape(x))
    if m.end_dim % rank == rank - 1:
        return ctx.emit("Flatten", [x], {"axis": m.start_dim % rank}, module=q)
    return ctx.emit("Reshape", [x], module=q)


def unflatten(ctx: FxNodeContext, m: nn.Unflatten, q: str) -> str:
    y = ctx.emit("Reshape", [_input(ctx)], module=q)
    rank = len(ctx.meta.shape)
    start = m.dim % (rank - len(m.unflattened_size) + 1)
    for i, size in enumerate(m.unflattened_size):
        if size != -1:
            ctx.b.fix_axis(y, start + i, f"nn.Unflatten {q} spells out size {size}")
    return y


def resize(ctx: FxNodeContext, m: nn.Module, q: str) -> str:
    return ctx.emit("Resize", [_input(ctx)], module=q)


def pad(ctx: FxNodeContext, m: nn.Module, q: str) -> str:
    x = _input(ctx)
    return ctx.emit("Pad", [x], {"pads": onnx_pads(list(m.padding), len(ctx.shape(x)))}, module=q)


def onnx_pads(torch_pads: list[int], rank: int) -> list[int]:
    """torch's (last-axis-first) pad pairs as ONNX's [begins..., ends...] over all axes."""
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(torch_pads) // 2):
        axis = rank - 1 - i
        begins[axis], ends[axis] = int(torch_pads[2 * i]), int(torch_pads[2 * i + 1])
    return begins + ends


_PADS = tuple(c for c in (getattr(nn, n, None) for n in (
    "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
    "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d", "ReplicationPad1d",
    "ReplicationPad2d", "ReplicationPad3d", "CircularPad1d", "CircularPad2d", "CircularPad3d"))
    if c is not None)

HANDLERS: list[tuple[type | tuple, Callable]] = [
    (nn.modules.conv._ConvNd, conv),
    (nn.Linear, linear),
    (nn.modules.batchnorm._NormBase, batch_norm),
    (nn.LayerNorm, layer_norm),
    (nn.GroupNorm, group_norm),
    (nn.SiLU, silu),
    (nn.PReLU, prelu),
    ((nn.Softmax, nn.LogSoftmax, nn.Softmax2d), softmax),
    ((nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
      nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
      nn.modules.pooling._LPPoolNd), pool),
    (nn.Flatten, flatten),
    (nn.Unflatten, unflatten),
    (nn.Upsample, resize),
    (_PADS, pad),
    (nn.LeakyReLU, activation),
    (tuple(ACTIVATIONS), activation),
]


def convert_module(ctx: FxNodeContext, module: torch.nn.Module):
    """Translate one call_module node; unknown modules become opaque ops."""
    qualname = ctx.node.target
    if _input(ctx) is None:
        return ctx.opaque(type(module).__name__)
    for types, handler in HANDLERS:
        if isinstance(module, types):
            return handler(ctx, module, qualname)
    return ctx.opaque(type(module).__name__)
