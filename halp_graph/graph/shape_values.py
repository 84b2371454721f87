"""Values of the small integer tensors that describe shapes: folding and tracing.

Exporters compute Reshape targets, Split sizes and Slice bounds with little subgraphs of
Shape/Gather/Concat/Unsqueeze over constants. Two services live here:

* `fold_small_constants` evaluates such subgraphs where every input is known (static
  shapes included), so rules can read the value like any constant;
* `trace_shape_vector` explains a shape vector entry by entry: which entries are literal
  constants (and in which initializer they live, so a rewrite can change them), which copy
  a dimension of a tensor at run time, and which are unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .ir import Graph, Node

FOLD_LIMIT = 4096  # elements; larger results are left to the runtime


def _int_attr_list(node: Node, name: str, graph: Graph, slot: int) -> list[int] | None:
    """An int-list parameter that moved from attribute to input across opsets."""
    if name in node.attrs:
        return [int(v) for v in node.attrs[name]]
    value = graph.const(node.input(slot))
    return None if value is None else [int(v) for v in np.asarray(value).reshape(-1)]


def _eval(node: Node, graph: Graph) -> list[np.ndarray] | None:
    op = node.op_type
    vals = [graph.const(i) if i else None for i in node.inputs]

    if op == "Shape":
        shape = graph.shape(node.inputs[0])
        if shape is None or not all(isinstance(d, int) for d in shape):
            return None
        start, end = node.attr("start", 0), node.attr("end", None)
        return [np.array(shape[start:end], dtype=np.int64)]
    if op == "Size":
        shape = graph.shape(node.inputs[0])
        if shape is None or not all(isinstance(d, int) for d in shape):
            return None
        return [np.array(int(np.prod(shape)), dtype=np.int64)]
    if op == "ConstantOfShape":
        if vals[0] is None:
            return None
        fill = node.attr("value")
        fill = np.zeros(1, np.float32) if fill is None else np.asarray(fill).reshape(-1)
        if int(np.prod(vals[0])) > FOLD_LIMIT:
            return None
        return [np.full(tuple(int(v) for v in vals[0]), fill[0], dtype=fill.dtype)]
    if any(v is None for v, name in zip(vals, node.inputs) if name):
        return None
    if op in ("Identity", "Cast") and vals[0] is not None:
        if op == "Cast":
            import onnx.helper as oh
            return [vals[0].astype(oh.tensor_dtype_to_np_dtype(node.attr("to")))]
        return [vals[0]]
    if op == "Gather":
        return [np.take(vals[0], vals[1].astype(np.int64), axis=node.attr("axis", 0))]
    if op == "Unsqueeze":
        axes = _int_attr_list(node, "axes", graph, 1)
        out = vals[0]
        rank = out.ndim + len(axes)
        for a in sorted(a % rank for a in axes):
            out = np.expand_dims(out, a)
        return [out]
    if op == "Squeeze":
        axes = _int_attr_list(node, "axes", graph, 1)
        if axes is None:
            return [np.squeeze(vals[0])]
        return [np.squeeze(vals[0], axis=tuple(a % vals[0].ndim for a in axes))]
    if op == "Concat":
        return [np.concatenate([v for v in vals if v is not None], axis=node.attr("axis"))]
    if op == "Slice":
        starts = vals[1].reshape(-1)
        ends = vals[2].reshape(-1)
        axes = vals[3].reshape(-1) if len(vals) > 3 and vals[3] is not None else range(len(starts))
        steps = vals[4].reshape(-1) if len(vals) > 4 and vals[4] is not None else [1] * len(starts)
        index = [slice(None)] * vals[0].ndim
        for s, e, a, st in zip(starts, ends, axes, steps):
            index[int(a)] = slice(int(s), int(e), int(st))
        return [vals[0][tuple(index)]]
    if op == "Reshape":
        target = [int(v) for v in vals[1]]
        target = [vals[0].shape[i] if v == 0 else v for i, v in enumerate(target)]
        return [vals[0].reshape(target)]
    if op in ("Add", "Sub", "Mul", "Div", "Equal", "Less", "Greater", "Max", "Min", "Mod"):
        a, b = vals[0], vals[1]
        if op == "Div" and np.issubdtype(a.dtype, np.integer):
            with np.errstate(divide="ignore"):
                return [np.floor_divide(a, b).astype(a.dtype)] if np.all(b != 0) else None
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
              "Equal": np.equal, "Less": np.less, "Greater": np.greater, "Max": np.maximum,
              "Min": np.minimum, "Mod": np.mod}[op]
        out = fn(a, b)
        return [out.astype(a.dtype) if op not in ("Equal", "Less", "Greater") else out]
    if op == "Where":
        return [np.where(vals[0], vals[1], vals[2])]
    if op == "Transpose":
        perm = node.attr("perm")
        return [np.transpose(vals[0], perm) if perm is not None else vals[0].T]
    if op in ("Neg", "Abs", "Floor", "Ceil", "Sqrt", "Not", "Sign"):
        fn = {"Neg": np.negative, "Abs": np.abs, "Floor": np.floor, "Ceil": np.ceil,
              "Sqrt": np.sqrt, "Not": np.logical_not, "Sign": np.sign}[op]
        return [fn(vals[0]).astype(vals[0].dtype)]
    if op in ("LessOrEqual", "GreaterOrEqual", "And", "Or", "Pow"):
        fn = {"LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal,
              "And": np.logical_and, "Or": np.logical_or, "Pow": np.power}[op]
        return [fn(vals[0], vals[1])]
    if op in ("ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin"):
        axes = _int_attr_list(node, "axes", graph, 1)
        fn = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMax": np.max, "ReduceMin": np.min}[op]
        axis = tuple(a % vals[0].ndim for a in axes) if axes else None
        return [np.asarray(fn(vals[0], axis=axis, keepdims=bool(node.attr("keepdims", 1))))]
    if op == "Expand":
        shape = np.broadcast_shapes(vals[0].shape, tuple(int(d) for d in vals[1]))
        return [np.broadcast_to(vals[0], shape).copy()]
    if op == "Tile":
        return [np.tile(vals[0], [int(r) for r in vals[1]])]
    if op == "Range":
        return [np.arange(vals[0].item(), vals[1].item(), vals[2].item(), dtype=vals[0].dtype)]
    return None


def fold_small_constants(graph: Graph) -> None:
    """Give every small, statically computable tensor a value (in topological order).

    Identity nodes over constants share the constant's loader, whatever its size, so that
    a parameter reached through an Identity chain reads as a constant.
    """
    for node in graph.nodes:
        if node.domain not in ("", "ai.onnx") or not node.outputs or not node.outputs[0]:
            continue
        out = graph.tensor(node.outputs[0])
        if out.is_constant:
            continue
        if node.op_type == "Identity" and graph.is_constant(node.inputs[0]):
            src = graph.tensor(node.inputs[0])
            out.loader = src.loader if src.loader is not None else (lambda v=src._value: v)
            out.shape = src.shape
            continue
        if any(graph.shape(i) and _too_big(graph.shape(i)) for i in node.inputs
               if i and graph.is_constant(i)):
            continue
        try:
            result = _eval(node, graph)
        except (ValueError, IndexError, TypeError, KeyError):
            result = None
        if result is None:
            continue
        for name, value in zip(node.outputs, result):
            value = np.asarray(value)
            if name and value.size <= FOLD_LIMIT:
                t = graph.tensor(name)
                t._value = value
                t.shape = tuple(value.shape)


def _too_big(shape) -> bool:
    return all(isinstance(d, int) for d in shape) and int(np.prod(shape)) > FOLD_LIMIT


# --------------------------------------------------------------------------- tracing


@dataclass(frozen=True)
class ConstEntry:
    """Entry `index` of constant `tensor`, read by node `user` at input `slot`: a literal
    the rewrite may edit (on a private copy, as the constant may be shared)."""

    value: int
    tensor: str
    index: int
    user: str
    slot: int


@dataclass(frozen=True)
class DimEntry:
    """A dimension copied at run time: `Shape(tensor)[axis]`."""

    tensor: str
    axis: int


@dataclass(frozen=True)
class UnknownEntry:
    reason: str


Entry = ConstEntry | DimEntry | UnknownEntry


def trace_shape_vector(graph: Graph, user: Node, slot: int, depth: int = 0) -> list[Entry] | None:
    """Explain input `slot` of `user`, a 1-D shape tensor, entry by entry (None: cannot)."""
    if depth > 32:
        return None
    name = user.inputs[slot]
    node = graph.producer.get(name)
    if node is None or graph.tensor(name).is_initializer or node.op_type == "Constant":
        value = graph.const(name)
        if value is None:
            return None
        return [ConstEntry(int(v), name, i, user.name, slot)
                for i, v in enumerate(np.asarray(value).reshape(-1))]
    op = node.op_type
    if op in ("Identity", "Cast"):
        return trace_shape_vector(graph, node, 0, depth + 1)
    if op == "Concat":
        out: list[Entry] = []
        for i, part_name in enumerate(node.inputs):
            if not part_name:
                continue
            part = trace_shape_vector(graph, node, i, depth + 1)
            if part is None:
                return None
            out.extend(part)
        return out
    if op in ("Unsqueeze", "Squeeze"):
        return trace_shape_vector(graph, node, 0, depth + 1)
    if op == "Shape":
        shape = graph.shape(node.inputs[0])
        if shape is None:
            return None
        start, end = node.attr("start", 0), node.attr("end", None)
        return [DimEntry(node.inputs[0], a) for a in list(range(len(shape)))[start:end]]
    if op == "Gather":
        src = trace_shape_vector(graph, node, 0, depth + 1)
        idx = graph.const(node.inputs[1])
        if src is None or idx is None:
            return None
        return [src[int(i)] for i in np.asarray(idx).reshape(-1)]
    if op == "Slice" and node.input(3) == "" or op == "Slice" and _is_zero_axis(graph, node):
        src = trace_shape_vector(graph, node, 0, depth + 1)
        starts, ends = graph.const(node.inputs[1]), graph.const(node.inputs[2])
        if src is None or starts is None or ends is None:
            return None
        s, e = int(np.asarray(starts).reshape(-1)[0]), int(np.asarray(ends).reshape(-1)[0])
        return src[slice(s, e)]
    value = graph.const(name)
    count = np.asarray(value).size if value is not None else 1
    return [UnknownEntry(f"computed by {op} {node.name}")] * count


def _is_zero_axis(graph: Graph, node: Node) -> bool:
    axes = graph.const(node.inputs[3])
    return axes is not None and [int(a) for a in np.asarray(axes).reshape(-1)] == [0]
