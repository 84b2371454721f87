"""Running an ONNX graph with PyTorch ops, so the torch backend times what ORT times.

The torch backend times candidate subgraphs and whole models on the CPU or a CUDA GPU
(cuDNN, the way HALP measured its table). Both come to it as ONNX, so this module turns
an ONNX graph into a callable that executes each node with the matching torch op, with
weights resident on the device in the chosen dtype. It covers the ops of classification
and detection backbones (convolutions, normalisation, activations, pooling, shape
plumbing); a graph with any other op is refused up front with the op's name.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import BackendUnavailable


def _attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        elif isinstance(v, onnx.TensorProto):
            v = numpy_helper.to_array(v)
        out[a.name] = v
    return out


class TorchGraph:
    """An ONNX graph as a torch callable: `graph(feeds) -> list of outputs`."""

    def __init__(self, model: onnx.ModelProto, device: str = "cpu", dtype: str = "fp32"):
        import torch  # lazy: torch is optional; the backend checks it imports first
        self.torch = torch
        self.device = torch.device(device)
        self.dtype = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
                      "bf16": torch.bfloat16}.get(dtype)
        if self.dtype is None:
            raise BackendUnavailable(f"the torch backend has no {dtype} path")
        graph = model.graph
        unsupported = sorted({n.op_type for n in graph.node if n.op_type not in OPS})
        if unsupported:
            raise BackendUnavailable(f"the torch runner does not implement ONNX op(s) "
                                     f"{', '.join(unsupported)}")
        self.consts = {}
        for init in graph.initializer:
            self.consts[init.name] = self._tensor(numpy_helper.to_array(init))
        self.nodes = []
        for n in graph.node:
            if n.op_type == "Constant":  # folded once, on the device
                self.consts[n.output[0]] = self._tensor(np.asarray(_attrs(n)["value"]))
            else:
                self.nodes.append((n.op_type, list(n.input), list(n.output), _attrs(n)))
        self.inputs = [i.name for i in graph.input if i.name not in self.consts]
        self.outputs = [o.name for o in graph.output]

    def _tensor(self, array: np.ndarray):
        t = self.torch.from_numpy(np.array(array, copy=True)).to(self.device)
        return t.to(self.dtype) if t.is_floating_point() else t

    def feeds(self, arrays: dict[str, np.ndarray]) -> dict:
        return {k: self._tensor(v) for k, v in arrays.items()}

    def __call__(self, feeds: dict) -> list:
        env = dict(self.consts)
        env.update(feeds)
        for op, ins, outs, attrs in self.nodes:
            args = [env[i] if i else None for i in ins]
            result = OPS[op](self.torch, args, attrs)
            if not isinstance(result, (list, tuple)):
                result = [result]
            for name, value in zip(outs, result):
                if name:
                    env[name] = value
        return [env[o] for o in self.outputs]


# ------------------------------------------------------------------- op table
def _ints(t) -> list[int]:
    return [int(x) for x in (t.tolist() if hasattr(t, "tolist") else t)]


def _conv_padding(F, x, attrs, kernel, strides, dilations):
    pads = attrs.get("pads")
    auto = attrs.get("auto_pad", "NOTSET")
    n = len(kernel)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads_begin, pads_end = [], []
        for i in range(n):
            size = x.shape[2 + i]
            out = math.ceil(size / strides[i])
            total = max((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size, 0)
            small, big = total // 2, total - total // 2
            pads_begin.append(small if auto == "SAME_UPPER" else big)
            pads_end.append(big if auto == "SAME_UPPER" else small)
        pads = pads_begin + pads_end
    if not pads or auto == "VALID":
        return x, 0
    begin, end = pads[:n], pads[n:]
    if begin == end:
        return x, tuple(begin)
    flat = []
    for b, e in zip(reversed(begin), reversed(end)):
        flat += [b, e]
    return F.pad(x, flat), 0


def _conv(torch, a, attrs):
    F = torch.nn.functional
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else None
    kernel = list(w.shape[2:])
    n = len(kernel)
    strides = attrs.get("strides", [1] * n)
    dilations = attrs.get("dilations", [1] * n)
    x, padding = _conv_padding(F, x, attrs, kernel, strides, dilations)
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[n]
    return fn(x, w, b, stride=strides, padding=padding, dilation=dilations, groups=attrs.get("group", 1))


def _conv_transpose(torch, a, attrs):
    F = torch.nn.functional
    x, w = a[0], a[1]
    b = a[2] if len(a) > 2 else None
    n = len(w.shape) - 2
    pads = attrs.get("pads", [0] * 2 * n)
    if pads[:n] != pads[n:]:
        raise BackendUnavailable("ConvTranspose with asymmetric pads is not supported by the torch runner")
    fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[n]
    return fn(x, w, b, stride=attrs.get("strides", [1] * n), padding=pads[:n],
              output_padding=attrs.get("output_padding", [0] * n), groups=attrs.get("group", 1),
              dilation=attrs.get("dilations", [1] * n))


def _gemm(torch, a, attrs):
    x, w = a[0], a[1]
    if attrs.get("transA", 0):
        x = x.t()
    if attrs.get("transB", 0):
        w = w.t()
    y = attrs.get("alpha", 1.0) * (x @ w)
    if len(a) > 2 and a[2] is not None:
        y = y + attrs.get("beta", 1.0) * a[2]
    return y


def _batchnorm(torch, a, attrs):
    return torch.nn.functional.batch_norm(a[0], a[3], a[4], a[1], a[2], False, 0.0,
                                          attrs.get("epsilon", 1e-5))


def _clip(torch, a, attrs):
    lo = a[1] if len(a) > 1 and a[1] is not None else attrs.get("min")
    hi = a[2] if len(a) > 2 and a[2] is not None else attrs.get("max")
    lo = float(lo) if lo is not None else None
    hi = float(hi) if hi is not None else None
    return torch.clamp(a[0], lo, hi)


def _pool(kind):
    def run(torch, a, attrs):
        F = torch.nn.functional
        kernel = attrs["kernel_shape"]
        n = len(kernel)
        strides = attrs.get("strides", [1] * n)
        x, padding = _conv_padding(F, a[0], attrs, kernel, strides, attrs.get("dilations", [1] * n))
        ceil = bool(attrs.get("ceil_mode", 0))
        if kind == "max":
            fn = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[n]
            return fn(x, kernel, strides, padding, attrs.get("dilations", [1] * n), ceil_mode=ceil)
        fn = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[n]
        return fn(x, kernel, strides, padding, ceil_mode=ceil,
                  count_include_pad=bool(attrs.get("count_include_pad", 0)))
    return run


def _reshape(torch, a, attrs):
    shape = _ints(a[1])
    shape = [a[0].shape[i] if d == 0 and not attrs.get("allowzero", 0) else d for i, d in enumerate(shape)]
    return a[0].reshape(shape)


def _split(torch, a, attrs):
    axis = attrs.get("axis", 0)
    sizes = _ints(a[1]) if len(a) > 1 and a[1] is not None else attrs.get("split")
    if sizes is None:
        parts = attrs.get("num_outputs")
        return torch.chunk(a[0], parts, dim=axis)
    return torch.split(a[0], sizes, dim=axis)


def _slice(torch, a, attrs):
    x = a[0]
    starts, ends = _ints(a[1]), _ints(a[2])
    axes = _ints(a[3]) if len(a) > 3 and a[3] is not None else list(range(len(starts)))
    steps = _ints(a[4]) if len(a) > 4 and a[4] is not None else [1] * len(starts)
    index = [slice(None)] * x.dim()
    for s, e, ax, st in zip(starts, ends, axes, steps):
        size = x.shape[ax]
        s = max(min(s + size if s < 0 else s, size), 0)
        e = max(min(e + size if e < 0 else e, size), 0)
        index[ax] = slice(s, e, st)
    return x[tuple(index)]


def _reduce_mean(torch, a, attrs):
    axes = attrs.get("axes")
    if axes is None and len(a) > 1 and a[1] is not None:
        axes = _ints(a[1])
    keep = bool(attrs.get("keepdims", 1))
    return a[0].mean(dim=axes, keepdim=keep) if axes else a[0].mean()


def _squeeze(torch, a, attrs):
    axes = attrs.get("axes") or (_ints(a[1]) if len(a) > 1 and a[1] is not None else None)
    x = a[0]
    for ax in sorted((ax % x.dim() for ax in axes), reverse=True) if axes else []:
        x = x.squeeze(ax)
    return x if axes else x.squeeze()


def _unsqueeze(torch, a, attrs):
    axes = attrs.get("axes") or _ints(a[1])
    x = a[0]
    for ax in sorted(ax % (x.dim() + len(axes)) for ax in axes):
        x = x.unsqueeze(ax)
    return x


OPS = {
    "Conv": _conv, "ConvTranspose": _conv_transpose, "Gemm": _gemm,
    "MatMul": lambda t, a, k: a[0] @ a[1],
    "BatchNormalization": _batchnorm,
    "Relu": lambda t, a, k: t.relu(a[0]),
    "LeakyRelu": lambda t, a, k: t.nn.functional.leaky_relu(a[0], k.get("alpha", 0.01)),
    "Clip": _clip, "Sigmoid": lambda t, a, k: t.sigmoid(a[0]),
    "HardSigmoid": lambda t, a, k: t.clamp(k.get("alpha", 0.2) * a[0] + k.get("beta", 0.5), 0, 1),
    "HardSwish": lambda t, a, k: t.nn.functional.hardswish(a[0]),
    "Tanh": lambda t, a, k: t.tanh(a[0]), "Elu": lambda t, a, k: t.nn.functional.elu(a[0], k.get("alpha", 1.0)),
    "Selu": lambda t, a, k: t.selu(a[0]), "Gelu": lambda t, a, k: t.nn.functional.gelu(a[0]),
    "Erf": lambda t, a, k: t.erf(a[0]), "Softplus": lambda t, a, k: t.nn.functional.softplus(a[0]),
    "Exp": lambda t, a, k: t.exp(a[0]), "Abs": lambda t, a, k: t.abs(a[0]),
    "Neg": lambda t, a, k: -a[0], "Sqrt": lambda t, a, k: t.sqrt(a[0]),
    "Reciprocal": lambda t, a, k: t.reciprocal(a[0]),
    "Identity": lambda t, a, k: a[0], "Dropout": lambda t, a, k: a[0],
    "Add": lambda t, a, k: a[0] + a[1], "Sub": lambda t, a, k: a[0] - a[1],
    "Mul": lambda t, a, k: a[0] * a[1], "Div": lambda t, a, k: a[0] / a[1],
    "Pow": lambda t, a, k: a[0] ** a[1], "Max": lambda t, a, k: t.maximum(a[0], a[1]),
    "Min": lambda t, a, k: t.minimum(a[0], a[1]),
    "PRelu": lambda t, a, k: t.where(a[0] >= 0, a[0], a[0] * a[1]),
    "MaxPool": _pool("max"), "AveragePool": _pool("avg"),
    "GlobalAveragePool": lambda t, a, k: a[0].mean(dim=tuple(range(2, a[0].dim())), keepdim=True),
    "GlobalMaxPool": lambda t, a, k: t.amax(a[0], dim=tuple(range(2, a[0].dim())), keepdim=True),
    "Flatten": lambda t, a, k: a[0].reshape(int(np.prod(a[0].shape[:k.get("axis", 1)])), -1),
    "Reshape": _reshape, "Concat": lambda t, a, k: t.cat(a, dim=k["axis"]),
    "Split": _split, "Slice": _slice,
    "Transpose": lambda t, a, k: a[0].permute(*(k.get("perm") or reversed(range(a[0].dim())))),
    "Softmax": lambda t, a, k: t.softmax(a[0], dim=k.get("axis", -1)),
    "ReduceMean": _reduce_mean, "Squeeze": _squeeze, "Unsqueeze": _unsqueeze,
    "Shape": lambda t, a, k: t.tensor(list(a[0].shape), dtype=t.int64, device=a[0].device),
    "Gather": lambda t, a, k: t.index_select(a[0], k.get("axis", 0), a[1].reshape(-1)).reshape(
        list(a[0].shape[:k.get("axis", 0)]) + list(a[1].shape) + list(a[0].shape[k.get("axis", 0) + 1:])),
    "Constant": None,  # folded when the graph is loaded
}
