"""How torch functions and Tensor methods become neutral (ONNX-named) ops for the fx front end.

`convert_call` looks the fx node's target up (a function object for call_function, a
method name for call_method) and emits the matching ops. Nodes whose value is not a
tensor (`x.size(0)`, `x.shape`) emit nothing. Channel counts written as literals in the
traced code (view sizes, split sizes, slice bounds) are recorded as fixed axes: the
ONNX rewrite can edit such constants, but a slimmed nn.Module cannot edit its Python
source, so those channels must stay. Anything not listed becomes an opaque op.
"""

from __future__ import annotations

import math
import operator
from typing import Callable

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F

from .fx_graph import FxNodeContext
from .fx_modules import emit_linear, emit_silu, onnx_pads

UNARY: dict[str, tuple[str, dict]] = {
    "relu": ("Relu", {}), "relu6": ("Clip", {"min": 0.0, "max": 6.0}), "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}), "gelu": ("Gelu", {}), "hardswish": ("HardSwish", {}),
    "hardsigmoid": ("HardSigmoid", {}), "leaky_relu": ("LeakyRelu", {}), "elu": ("Elu", {}),
    "selu": ("Selu", {}), "mish": ("Mish", {}), "softplus": ("Softplus", {}), "exp": ("Exp", {}),
    "log": ("Log", {}), "sqrt": ("Sqrt", {}), "abs": ("Abs", {}), "neg": ("Neg", {}),
    "clamp": ("Clip", {}), "clip": ("Clip", {}), "hardtanh": ("Clip", {}), "erf": ("Erf", {}),
    "reciprocal": ("Reciprocal", {}), "rsqrt": ("Sqrt", {}),
}
IDENTITY = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "contiguous",
            "clone", "detach", "float", "half", "double", "to", "type", "type_as", "cpu", "cuda",
            "stochastic_depth")  # torchvision's fx-wrapped stochastic depth scales whole samples
BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "truediv": "Div",
          "pow": "Pow", "maximum": "Max", "minimum": "Min", "rsub": "Sub"}
RESHAPES = ("view", "reshape", "flatten", "squeeze", "unsqueeze", "view_as", "reshape_as", "unflatten")
REDUCES = {"mean": "ReduceMean", "sum": "ReduceSum", "amax": "ReduceMax", "amin": "ReduceMin"}

FUNCTIONS: dict[Callable, str] = {
    operator.add: "add", operator.iadd: "add", torch.add: "add",
    operator.sub: "sub", operator.isub: "sub", torch.sub: "sub", torch.rsub: "rsub",
    operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
    operator.truediv: "div", operator.itruediv: "div", torch.div: "div", torch.true_divide: "div",
    operator.pow: "pow", torch.pow: "pow", torch.maximum: "maximum", torch.minimum: "minimum",
    operator.matmul: "matmul", torch.matmul: "matmul", operator.neg: "neg",
    operator.getitem: "getitem", torch.cat: "cat", torch.concat: "cat",
    torch.flatten: "flatten", torch.reshape: "reshape", torch.squeeze: "squeeze",
    torch.unsqueeze: "unsqueeze", torch.permute: "permute", torch.transpose: "transpose",
    torch.t: "t", torch.mean: "mean", torch.sum: "sum", torch.amax: "amax", torch.amin: "amin",
    torch.chunk: "chunk", torch.split: "split", torch.softmax: "softmax", F.softmax: "softmax",
    F.log_softmax: "softmax", torch.log_softmax: "softmax",
    F.adaptive_avg_pool1d: "adaptive_avg_pool", F.adaptive_avg_pool2d: "adaptive_avg_pool",
    F.adaptive_avg_pool3d: "adaptive_avg_pool", F.adaptive_max_pool2d: "adaptive_max_pool",
    F.avg_pool1d: "avg_pool", F.avg_pool2d: "avg_pool", F.avg_pool3d: "avg_pool",
    F.max_pool1d: "max_pool", F.max_pool2d: "max_pool", F.max_pool3d: "max_pool",
    F.interpolate: "interpolate", F.pad: "pad", F.linear: "linear",
    F.conv1d: "conv", F.conv2d: "conv", F.conv3d: "conv", F.batch_norm: "batch_norm",
    F.layer_norm: "layer_norm", F.silu: "silu", torch.clamp: "clamp", torch.clip: "clip",
    torch.relu: "relu", F.relu: "relu", F.relu6: "relu6", torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid", torch.tanh: "tanh", F.tanh: "tanh", F.gelu: "gelu",
    F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid", F.leaky_relu: "leaky_relu",
    F.elu: "elu", F.selu: "selu", F.mish: "mish", F.softplus: "softplus", F.hardtanh: "hardtanh",
    torch.exp: "exp", torch.log: "log", torch.sqrt: "sqrt", torch.abs: "abs", torch.neg: "neg",
    torch.erf: "erf", torch.rsqrt: "rsqrt", torch.reciprocal: "reciprocal",
    F.dropout: "dropout", F.dropout1d: "dropout1d", F.dropout2d: "dropout2d",
    F.dropout3d: "dropout3d", F.alpha_dropout: "alpha_dropout",
}


def convert_call(ctx: FxNodeContext):
    """Translate a call_function / call_method node; returns its neutral value."""
    node = ctx.node
    if node.op == "call_method":
        kind = node.target.rstrip("_") if node.target not in ("__getitem__",) else "getitem"
    else:
        kind = FUNCTIONS.get(node.target)
        if kind is None:
            kind = getattr(node.target, "__name__", str(node.target))
    if kind == "getitem":
        return _getitem(ctx)
    if not ctx.output_is_tensor() and ctx.output_metas() is None:
        return None  # sizes, shapes, Python values: no tensor, nothing to emit
    handler = _HANDLERS.get(kind)
    if handler is None and kind in UNARY:
        handler = _unary
    if handler is None and kind in IDENTITY:
        handler = _identity
    if handler is None and kind in BINARY:
        handler = _binary
    if handler is None:
        return ctx.opaque(kind)
    if handler not in (_cat, _binary) and not isinstance(ctx.value(ctx.arg(0, "input")), str):
        return ctx.opaque(kind)
    return handler(ctx, kind)


def _x(ctx: FxNodeContext) -> str:
    return ctx.tensor(ctx.arg(0, "input"))


def _rank(ctx: FxNodeContext, name: str) -> int:
    return len(ctx.shape(name))


def _unary(ctx: FxNodeContext, kind: str) -> str:
    op, attrs = UNARY[kind]
    return ctx.emit(op, [_x(ctx)], attrs)


def _identity(ctx: FxNodeContext, kind: str) -> str:
    x = _x(ctx)
    if tuple(ctx.shape(x)) != tuple(ctx.meta.shape):
        return ctx.opaque(kind)
    return ctx.emit("Identity", [x])


def _binary(ctx: FxNodeContext, kind: str) -> str:
    a = ctx.tensor(ctx.arg(0, "input"), "lhs")
    b = ctx.tensor(ctx.arg(1, "other"), "rhs")
    if a is None or b is None:
        return ctx.opaque(kind)
    if kind == "rsub":
        a, b = b, a
    return ctx.emit(BINARY[kind], [a, b])


def _matmul(ctx: FxNodeContext, kind: str) -> str:
    a, b = ctx.tensor(ctx.arg(0, "input")), ctx.tensor(ctx.arg(1, "other"))
    if a is None or b is None:
        return ctx.opaque(kind)
    return ctx.emit("MatMul", [a, b])


def _silu(ctx: FxNodeContext, kind: str) -> str:
    return emit_silu(ctx, _x(ctx))


def _cat(ctx: FxNodeContext, kind: str):
    parts = ctx.arg(0, "tensors")
    names = [ctx.tensor(p) for p in parts] if isinstance(parts, (list, tuple)) else [None]
    if any(n is None for n in names):
        return ctx.opaque(kind)
    rank = len(ctx.meta.shape)
    return ctx.emit("Concat", names, {"axis": ctx.arg(1, "dim", 0) % rank})


def _reshape(ctx: FxNodeContext, kind: str) -> str:
    x = _x(ctx)
    y = ctx.emit("Reshape", [x])
    if kind in ("view", "reshape"):
        sizes = list(ctx.node.args[1:]) or [ctx.node.kwargs.get("shape", ctx.node.kwargs.get("size"))]
        if len(sizes) == 1 and isinstance(sizes[0], (list, tuple, torch.Size)):
            sizes = list(sizes[0])
        for axis, size in enumerate(sizes):
            if isinstance(size, int) and size not in (-1, 1):
                ctx.b.fix_axis(y, axis, f"{kind} in fx node {ctx.name} spells out size {size}")
    elif kind in ("view_as", "reshape_as"):
        for axis, size in enumerate(ctx.meta.shape):
            if size > 1:
                ctx.b.fix_axis(y, axis, f"{kind} in fx node {ctx.name} copies another tensor's shape")
    elif kind == "unflatten":
        dim, sizes = ctx.arg(1, "dim"), ctx.arg(2, "sizes")
        start = dim % (len(ctx.meta.shape) - len(sizes) + 1)
        for i, size in enumerate(sizes):
            if isinstance(size, int) and size not in (-1, 1):
                ctx.b.fix_axis(y, start + i, f"unflatten in fx node {ctx.name} spells out size {size}")
    return y


def _permute(ctx: FxNodeContext, kind: str) -> str:
    x = _x(ctx)
    rank = _rank(ctx, x)
    if kind == "t":
        perm = [1, 0] if rank == 2 else [0]
    elif kind == "transpose":
        d0, d1 = ctx.arg(1, "dim0") % rank, ctx.arg(2, "dim1") % rank
        perm = list(range(rank))
        perm[d0], perm[d1] = perm[d1], perm[d0]
    else:
        dims = list(ctx.node.args[1:]) or [ctx.node.kwargs.get("dims")]
        if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
            dims = list(dims[0])
        perm = [d % rank for d in dims]
    return ctx.emit("Transpose", [x], {"perm": perm})


def _reduce(ctx: FxNodeContext, kind: str) -> str:
    x = _x(ctx)
    rank = _rank(ctx, x)
    dim = ctx.arg(1, "dim")
    dims = dim if isinstance(dim, (list, tuple)) else [dim]
    if dim is not None and not all(isinstance(d, int) for d in dims):
        return ctx.opaque(kind)
    axes = list(range(rank)) if dim is None else sorted({d % rank for d in dims})
    keep = bool(ctx.arg(2, "keepdim", False))
    return ctx.emit(REDUCES[kind], [x], {"axes": axes, "keepdims": int(keep)})


def _softmax(ctx: FxNodeContext, kind: str) -> str:
    dim = ctx.arg(1, "dim")
    if not isinstance(dim, int):
        return ctx.opaque(kind)
    return ctx.emit("Softmax", [_x(ctx)], {"axis": dim})


def _pool(ctx: FxNodeContext, kind: str):
    if not ctx.output_is_tensor():
        return ctx.opaque(kind)
    x = _x(ctx)
    is_max = "max" in kind
    if kind.startswith("adaptive") and all(d == 1 for d in ctx.meta.shape[2:]):
        return ctx.emit("GlobalMaxPool" if is_max else "GlobalAveragePool", [x])
    return ctx.emit("MaxPool" if is_max else "AveragePool", [x], {"adaptive": int(kind.startswith("adaptive"))})


def _interpolate(ctx: FxNodeContext, kind: str) -> str:
    return ctx.emit("Resize", [_x(ctx)])


def _pad(ctx: FxNodeContext, kind: str) -> str:
    x = _x(ctx)
    pads = ctx.arg(1, "pad")
    if not all(isinstance(p, int) for p in pads):
        return ctx.opaque(kind)
    return ctx.emit("Pad", [x], {"pads": onnx_pads(list(pads), _rank(ctx, x))})


def _linear(ctx: FxNodeContext, kind: str) -> str:
    w = ctx.tensor(ctx.arg(1, "weight"))
    bias = ctx.arg(2, "bias")
    b = ctx.tensor(bias) if bias is not None else None
    if w is None or (bias is not None and b is None):
        return ctx.opaque(kind)
    return emit_linear(ctx, _x(ctx), w, b)


def _conv(ctx: FxNodeContext, kind: str) -> str:
    w = ctx.tensor(ctx.arg(1, "weight"))
    bias = ctx.arg(2, "bias")
    groups = ctx.arg(6, "groups", 1)
    if w is None or not isinstance(groups, int):
        return ctx.opaque(kind)
    inputs = [_x(ctx), w] + ([ctx.tensor(bias)] if bias is not None else [])
    y = ctx.emit("Conv", inputs, {"group": groups})
    if groups > 1:  # the literal `groups` argument cannot follow a pruned input
        ctx.b.functional_grouped_convs.append(ctx.b.nodes[-1].name)
        ctx.b.fix_axis(inputs[0], 1, f"functional conv {ctx.name} passes groups={groups} as a literal")
    return y


def _batch_norm(ctx: FxNodeContext, kind: str) -> str:
    def t(i, key):
        a = ctx.arg(i, key)
        return ctx.tensor(a) if a is not None else ""

    inputs = [_x(ctx), t(3, "weight"), t(4, "bias"), t(1, "running_mean"), t(2, "running_var")]
    while inputs[-1] == "":
        inputs.pop()
    return ctx.emit("BatchNormalization", inputs, {"epsilon": ctx.arg(7, "eps", 1e-5)})


def _layer_norm(ctx: FxNodeContext, kind: str) -> str:
    shape = ctx.arg(1, "normalized_shape")
    inputs = [_x(ctx)] + [ctx.tensor(a) for a in (ctx.arg(2, "weight"), ctx.arg(3, "bias")) if a is not None]
    return ctx.emit("LayerNormalization", inputs, {"axis": -len(shape)})


def _expand(ctx: FxNodeContext, kind: str) -> str:
    y = ctx.emit("Expand", [_x(ctx)])
    x_shape = ctx.shape(_x(ctx))
    shift = len(ctx.meta.shape) - len(x_shape)
    if kind == "expand_as":
        fixed = [a for a, d in enumerate(ctx.meta.shape) if d > 1]
    else:
        sizes = list(ctx.node.args[1:])
        if len(sizes) == 1 and isinstance(sizes[0], (list, tuple, torch.Size)):
            sizes = list(sizes[0])
        fixed = [a for a, s in enumerate(sizes) if isinstance(s, int) and s not in (-1, 1)]
    for axis in fixed:
        if axis - shift < 0 or x_shape[axis - shift] == ctx.meta.shape[axis]:
            ctx.b.fix_axis(y, axis, f"{kind} in fx node {ctx.name} spells out the size of axis {axis}")
    return y


def _split(ctx: FxNodeContext, kind: str):
    metas = ctx.output_metas()
    if metas is None:
        return ctx.opaque(kind)
    x = _x(ctx)
    rank = _rank(ctx, x)
    dim = ctx.arg(2, "dim", 0) % rank
    sizes = [int(m.shape[dim]) for m in metas]
    outs = tuple(ctx.b.data(f"{ctx.name}.{i}", m) for i, m in enumerate(metas))
    ctx.b.emit(ctx.name, "Split", [x], list(outs), {"axis": dim, "split": sizes})
    ctx.b.fix_axis(x, dim, f"{kind} in fx node {ctx.name} cuts the axis into sizes fixed in code")
    return outs


def _getitem(ctx: FxNodeContext):
    source, index = ctx.node.args[0], ctx.node.args[1]
    value = ctx.value(source)
    if isinstance(value, tuple):
        return value[index] if isinstance(index, (int, slice)) else None
    if not isinstance(value, str) or not ctx.output_is_tensor():
        return None
    return _slice(ctx, value, index)


def _slice(ctx: FxNodeContext, x: str, index):
    """x[...] with ints, slices, None and Ellipsis: one Slice, then a Reshape for the axes
    that ints remove and None adds. Tensor indices are opaque."""
    entries = list(index) if isinstance(index, tuple) else [index]
    if any(isinstance(e, (torch.fx.Node, torch.Tensor, list)) for e in entries) or any(
            isinstance(e, slice) and any(isinstance(v, torch.fx.Node) for v in (e.start, e.stop, e.step))
            for e in entries):
        return ctx.opaque("getitem")
    shape = list(ctx.shape(x))
    consumed = sum(1 for e in entries if e is not None and e is not Ellipsis)
    expanded = []
    for e in entries:
        expanded += [slice(None)] * (len(shape) - consumed) if e is Ellipsis else [e]
    bounds, axis = [], 0
    for e in expanded:
        if e is None:
            continue
        if isinstance(e, int):
            start = e % shape[axis]
            bounds.append((axis, start, start + 1, 1))
        elif isinstance(e, slice) and e != slice(None):
            start, stop, step = e.indices(shape[axis])
            bounds.append((axis, start, stop, step))
        axis += 1
    if not bounds:
        sliced = x
    else:
        b = ctx.b
        consts = [b.const(f"{ctx.name}.{k}", np.array([v[i] for v in bounds], np.int64))
                  for i, k in ((1, "starts"), (2, "ends"), (0, "axes"), (3, "steps"))]
        out_shape = list(shape)
        for a, start, stop, step in bounds:
            out_shape[a] = max(0, math.ceil((stop - start) / step))
            ctx.b.fix_axis(x, a, f"indexing in fx node {ctx.name} slices axis {a} with bounds fixed in code")
        if tuple(out_shape) == tuple(ctx.meta.shape):
            return ctx.emit("Slice", [x] + consts)
        sliced = b.data_shape(b.fresh(f"{ctx.name}.slice"), out_shape)
        b.emit(ctx.name, "Slice", [x] + consts, [sliced])
    return ctx.emit("Reshape", [sliced])


_HANDLERS: dict[str, Callable] = {
    "matmul": _matmul, "silu": _silu, "cat": _cat, "softmax": _softmax,
    "permute": _permute, "transpose": _permute, "t": _permute,
    "adaptive_avg_pool": _pool, "adaptive_max_pool": _pool, "avg_pool": _pool, "max_pool": _pool,
    "interpolate": _interpolate, "pad": _pad, "linear": _linear, "conv": _conv,
    "batch_norm": _batch_norm, "layer_norm": _layer_norm, "expand": _expand,
    "expand_as": _expand, "chunk": _split, "split": _split,
    **{k: _reshape for k in RESHAPES}, **{k: _reduce for k in REDUCES},
}
