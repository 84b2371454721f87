"""Values of the small integer tensors that describe shapes: folding, tracing, resolving.

Exporters compute Reshape targets, Split sizes and Slice bounds with little subgraphs of
Shape/Gather/Concat/Unsqueeze/Mul over constants. Three services live here:

* `fold_small_constants` evaluates such subgraphs where every input is known (static
  shapes included), so rules can read the value like any constant;
* `value_expr` explains an integer tensor entry by entry as an expression over literal
  constants and dimensions read at run time (`Dim`): what a rewrite needs to know which
  entries change when channels go, and to rebuild the others exactly;
* `dim_expr` says how one dimension of a tensor follows from the dimensions of the
  tensors it was computed from (a conv's output size from its input's), so a rewrite can
  compute the size of a tensor it removed from tensors that are still there.

Expressions use ONNX integer semantics (Div truncates), which is what the rewritten model
computes at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onnx import helper

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
            return [vals[0].astype(helper.tensor_dtype_to_np_dtype(node.attr("to")))]
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


# ------------------------------------------------------------------------ expressions

VECTOR_LIMIT = 64  # integer constants longer than this are not shape vectors
INT_TYPES = {2, 3, 4, 5, 6, 7, 12, 13}  # onnx.TensorProto integer element types


@dataclass(frozen=True)
class Const:
    value: int


@dataclass(frozen=True)
class Dim:
    """A dimension read at run time: `Shape(tensor)[axis]` (axis None: any axis)."""

    tensor: str
    axis: int | None


@dataclass(frozen=True)
class Op:
    """An integer operation: add, sub, mul, div (truncating, as ONNX), mod, max, min."""

    op: str
    args: tuple


@dataclass(frozen=True)
class Unknown:
    """A value the tracer cannot follow; `deps` are the dimensions it may depend on through
    shape arithmetic (a value computed by any other op is rebuilt at that op's input, so it
    depends on none)."""

    reason: str
    deps: frozenset = frozenset()


Expr = Const | Dim | Op | Unknown
_FOLD = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
         "max": max, "min": min}


def _trunc_div(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def _fold(op: str, a: int, b: int) -> int | None:
    if op in _FOLD:
        return _FOLD[op](a, b)
    if b == 0:
        return None
    return _trunc_div(a, b) if op == "div" else a - b * (a // b)  # Mod, fmod=0: Python's sign


def make(op: str, a: Expr, b: Expr) -> Expr:
    """`a op b`, folded where both are constants and simplified where one is neutral."""
    if isinstance(a, Unknown) or isinstance(b, Unknown):
        return Unknown(f"{op} of an unknown value", depends(a) | depends(b))
    if isinstance(a, Const) and isinstance(b, Const):
        value = _fold(op, a.value, b.value)
        return Const(value) if value is not None else Unknown(f"{op} by zero")
    if op == "sub" and isinstance(b, Const):
        op, b = "add", Const(-b.value)
    if op == "add" and isinstance(b, Const) and isinstance(a, Op) and a.op == "add" and isinstance(a.args[1], Const):
        a, b = a.args[0], Const(a.args[1].value + b.value)  # (x + c1) + c2 = x + (c1 + c2)
    if isinstance(b, Const) and (op in ("add", "sub") and b.value == 0 or op in ("mul", "div") and b.value == 1):
        return a
    if isinstance(a, Const) and (op == "add" and a.value == 0 or op == "mul" and a.value == 1):
        return b
    return Op(op, (a, b))


def depends(e: Expr) -> frozenset:
    """The dimensions read at run time that `e` may depend on."""
    if isinstance(e, Dim):
        return frozenset([e])
    if isinstance(e, Op):
        return frozenset().union(*(depends(a) for a in e.args))
    if isinstance(e, Unknown):
        return e.deps
    return frozenset()


def reads(deps: frozenset, tensor: str, axis: int) -> bool:
    return Dim(tensor, axis) in deps or Dim(tensor, None) in deps


def substitute(e: Expr, value_of) -> Expr:
    """`e` with every Dim for which `value_of(tensor, axis)` gives an int replaced by it."""
    if isinstance(e, Dim):
        v = value_of(e.tensor, e.axis) if e.axis is not None else None
        return Const(int(v)) if v is not None else e
    if isinstance(e, Op):
        return make(e.op, *(substitute(a, value_of) for a in e.args))
    return e


def static_dim(d) -> int | None:
    """A dimension as an int when it is known and valid (exporters write -1 for unknown)."""
    return d if isinstance(d, int) and not isinstance(d, bool) and d >= 0 else None


def static_value_of(graph: Graph):
    """A `value_of` for `substitute` that knows every statically inferred dimension."""
    def value_of(tensor: str, axis: int) -> int | None:
        shape = graph.shape(tensor)
        return static_dim(shape[axis]) if shape is not None and axis < len(shape) else None
    return value_of


# --------------------------------------------------------------------- value tracing

ARITH = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Mod": "mod", "Max": "max",
         "Min": "min"}
PASS_THROUGH = ("Identity", "Unsqueeze", "Squeeze")
# integer ops value_expr follows: their value comes from input 0 (from every input for the
# arithmetic ops and Concat); other inputs (Gather indices, Slice bounds) are parameters
VALUE_OPS = set(ARITH) | set(PASS_THROUGH) | {"Cast", "Gather", "Concat", "Slice", "Neg",
                                              "ReduceProd", "ReduceSum", "Reshape"}


def value_expr(graph: Graph, name: str, memo: dict | None = None) -> list[Expr]:
    """Entry by entry, what the integer tensor `name` holds at run time (scalars: one
    entry). Entries it cannot follow are `Unknown`, with the dimensions they may read."""
    memo = {} if memo is None else memo
    if name not in memo:
        memo[name] = _value_expr(graph, name, memo)
    return memo[name]


def _value_expr(graph: Graph, name: str, memo: dict) -> list[Expr]:
    node = graph.producer.get(name)
    if node is None or node.op_type == "Constant" or graph.tensor(name).is_initializer:
        return _literal(graph, name)
    op = node.op_type
    if op == "Shape":
        return _shape_dims(graph, node)
    if op == "Size":
        return [_size(graph, node.inputs[0])]
    if not _is_arithmetic(graph, node):
        # Not shape arithmetic: its inputs are rebuilt where they read pruned sizes (see
        # shape_sinks), so what it computes depends on no pruned size.
        return _unknown(graph, name, f"computed by {op} {node.name}")
    if op in PASS_THROUGH or op in ("Cast", "Reshape"):
        return value_expr(graph, node.inputs[0], memo)
    if op == "Concat":
        return [e for i in node.inputs if i for e in value_expr(graph, i, memo)]
    if op in ARITH:
        return _elementwise(ARITH[op], value_expr(graph, node.inputs[0], memo),
                            value_expr(graph, node.inputs[1], memo))
    if op == "Neg":
        return [make("sub", Const(0), e) for e in value_expr(graph, node.inputs[0], memo)]
    data = value_expr(graph, node.inputs[0], memo)
    if op == "Gather" and node.attr("axis", 0) == 0:
        found = _gather(graph, node, data, memo)
    elif op == "Slice":
        found = _slice(graph, node, data, memo)
    elif op in ("ReduceProd", "ReduceSum") and _rank(graph, node.inputs[0]) == 1:
        found = [_product(data) if op == "ReduceProd" else _sum(data)]
    else:
        found = None
    if found is None:  # picked from the data by values computed elsewhere
        deps = frozenset().union(*(depends(e) for e in data))
        return _unknown(graph, name, f"{op} {node.name} with computed parameters", deps)
    return found


def _size(graph: Graph, x: str) -> Expr:
    rank = _rank(graph, x)
    if rank is None:
        return Unknown(f"Size of {x!r}, of unknown rank", frozenset([Dim(x, None)]))
    return _product([Dim(x, a) for a in range(rank)])


def _literal(graph: Graph, name: str) -> list[Expr]:
    value = graph.const(name)
    if value is None:  # a graph input holding integers
        return _unknown(graph, name, f"graph input {name!r}")
    arr = np.asarray(value)
    if not np.issubdtype(arr.dtype, np.integer) or arr.size > VECTOR_LIMIT:
        count = arr.size if arr.ndim == 1 and arr.size <= VECTOR_LIMIT else 1
        return [Unknown(f"constant {name!r} is not a small integer vector")] * count
    return [Const(int(v)) for v in arr.reshape(-1)]


def _is_int(graph: Graph, name: str) -> bool:
    dtype = graph.tensor(name).dtype
    return dtype is None or dtype in INT_TYPES


def _rank(graph: Graph, name: str) -> int | None:
    shape = graph.shape(name)
    return None if shape is None else len(shape)


def _unknown(graph: Graph, name: str, reason: str, deps: frozenset = frozenset()) -> list[Expr]:
    shape = graph.shape(name)
    count = static_dim(shape[0]) if shape is not None and len(shape) == 1 else 1
    return [Unknown(reason, deps)] * (count if count is not None else 1)


def _shape_dims(graph: Graph, node: Node) -> list[Expr]:
    x = node.inputs[0]
    rank = _rank(graph, x)
    if rank is None:
        return [Unknown(f"Shape {node.name} of unknown rank", frozenset([Dim(x, None)]))]
    axes = list(range(rank))[node.attr("start", 0):node.attr("end", None)]
    return [Dim(x, a) for a in axes]


def _const_ints(graph: Graph, entries: list[Expr]) -> list[int] | None:
    values = [substitute(e, static_value_of(graph)) for e in entries]
    if not all(isinstance(v, Const) for v in values):
        return None
    return [v.value for v in values]


def _gather(graph: Graph, node: Node, data: list[Expr], memo: dict) -> list[Expr] | None:
    idx = _const_ints(graph, value_expr(graph, node.inputs[1], memo))
    if idx is None or any(not -len(data) <= i < len(data) for i in idx):
        return None
    return [data[i] for i in idx]


def _slice(graph: Graph, node: Node, data: list[Expr], memo: dict) -> list[Expr] | None:
    bounds = [_const_ints(graph, value_expr(graph, node.input(s), memo)) if node.input(s) else None
              for s in (1, 2, 3, 4)]
    if "starts" in node.attrs:  # opset < 10
        bounds = [node.attrs["starts"], node.attrs["ends"], node.attrs.get("axes"), None]
    starts, ends, axes, steps = bounds
    if starts is None or ends is None or (axes not in (None, [0], [-1])) or len(starts) != 1:
        return None
    step = steps[0] if steps else 1
    return data[slice(starts[0], ends[0], step)] if step else None


def _elementwise(op: str, a: list[Expr], b: list[Expr]) -> list[Expr]:
    if len(a) == 1 and len(b) > 1:
        a = a * len(b)
    if len(b) == 1 and len(a) > 1:
        b = b * len(a)
    if len(a) != len(b):
        deps = frozenset().union(*(depends(e) for e in a + b))
        return [Unknown(f"{op} of vectors of different length", deps)]
    return [make(op, x, y) for x, y in zip(a, b)]


def _product(entries: list[Expr]) -> Expr:
    out: Expr = Const(1)
    for e in entries:
        out = make("mul", out, e)
    return out


def _sum(entries: list[Expr]) -> Expr:
    out: Expr = Const(0)
    for e in entries:
        out = make("add", out, e)
    return out


def shape_sinks(graph: Graph, shape_node: Node) -> list[tuple[Node | None, int, str]]:
    """Where the value of a Shape (or Size) ends up: (node, slot, tensor) for every input
    slot that reads it through integer arithmetic but is not itself arithmetic,
    (None, -1, tensor) for a graph output it reaches and (node, -2, tensor) for a node
    whose subgraph reads it."""
    sinks, seen = [], set()
    work = [o for o in shape_node.outputs if o]
    while work:
        name = work.pop()
        if name in seen:
            continue
        seen.add(name)
        if graph.is_output(name):
            sinks.append((None, -1, name))
        for user, slot in graph.users(name):
            if _carries_value(graph, user, slot):
                work += [o for o in user.outputs if o]
            else:
                sinks.append((user, slot, name))
    for node, names in graph.subgraph_reads():
        sinks += [(node, -2, name) for name in sorted(names & seen)]
    return sinks


def _is_arithmetic(graph: Graph, node: Node) -> bool:
    """Integer shape arithmetic: an op value_expr follows, with a 0-D or 1-D int output."""
    if node.op_type not in VALUE_OPS or node.domain not in ("", "ai.onnx"):
        return False
    rank = _rank(graph, node.outputs[0])
    return _is_int(graph, node.outputs[0]) and rank is not None and rank <= 1


def _carries_value(graph: Graph, node: Node, slot: int) -> bool:
    """True when `node` is shape arithmetic over the value at `slot` (not a parameter of
    it such as Gather's indices or a Slice's bounds)."""
    return _is_arithmetic(graph, node) and (slot == 0 or node.op_type in ARITH or node.op_type == "Concat")


# ------------------------------------------------------------------ dimension resolving

SAME_SHAPE = {
    "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
    "Softplus", "Softsign", "Gelu", "Mish", "Erf", "Exp", "Log", "Sqrt", "Abs", "Neg",
    "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin", "Cos", "ThresholdedRelu", "Shrink",
    "Not", "IsNaN", "IsInf", "Identity", "Cast", "Clip", "Dropout", "CastLike", "Swish",
    "BatchNormalization", "InstanceNormalization", "LayerNormalization", "Softmax",
    "LogSoftmax", "Hardmax", "LRN", "GroupNormalization", "MeanVarianceNormalization",
    "LpNormalization", "CumSum",
}
BROADCASTING = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Equal", "Less",
                "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod", "Where",
                "PRelu"}
WINDOWED = {"Conv", "MaxPool", "AveragePool", "LpPool"}


def dim_expr(graph: Graph, tensor: str, axis: int, resolve) -> Expr | None:
    """Dimension `axis` of `tensor` from the dimensions of its producer's inputs, each
    obtained through `resolve(tensor, axis)`; None when the op's arithmetic is not known."""
    node = graph.producer.get(tensor)
    if node is None or node.domain not in ("", "ai.onnx") or not _first_like(node, tensor):
        return None
    fn = _DIM_RULES.get(node.op_type)
    if fn is None and node.op_type in SAME_SHAPE:
        fn = _same_shape
    if fn is None and node.op_type in BROADCASTING:
        fn = _broadcast_dim
    if fn is None and node.op_type in WINDOWED:
        fn = _windowed_dim
    if fn is None:
        return None
    try:
        return fn(graph, node, tensor, axis, resolve)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError):
        return None


def _first_like(node: Node, tensor: str) -> bool:
    """The rules describe an op's first output; Split's outputs, Dropout's mask and
    MaxPool's indices are shaped by the same arithmetic; a BatchNormalization's running
    statistics are [C] (_batchnorm_dim)."""
    return tensor == node.outputs[0] or node.op_type in ("Split", "Dropout", "MaxPool", "BatchNormalization")


def _same_shape(graph, node, tensor, axis, resolve):
    return resolve(node.inputs[0], axis)


def _broadcast_dim(graph, node, tensor, axis, resolve):
    """Numpy broadcasting: the maximum of the aligned input dims that are not 1 (valid
    broadcasting makes them equal or 1; zero-sized dims are not supported here)."""
    rank = len(graph.shape(tensor))
    found: list[Expr] = []
    names = set()
    for name in node.inputs:
        shape = graph.shape(name) if name else None
        if shape is None:
            return None
        a = axis - (rank - len(shape))
        if a < 0 or static_dim(shape[a]) == 1:
            continue
        d = static_dim(shape[a])
        if d is not None:
            return Const(d)
        if isinstance(shape[a], str) and shape[a] in names:
            continue  # the same symbolic size as an input already counted
        names.add(shape[a])
        e = resolve(name, a)
        if e is None:
            return None
        if e not in found:
            found.append(e)
    if not found:
        return Const(1)
    out = found[0]
    for e in found[1:]:
        out = make("max", out, e)
    return out


def _window(graph, node) -> tuple[list[int], list[int], list[int], list[int]] | None:
    """(kernel, strides, dilations, pads) of a conv or pool node."""
    if node.op_type in ("Conv", "ConvTranspose"):
        w = graph.shape(node.inputs[1])
        kernel = node.attr("kernel_shape") or (list(w[2:]) if w is not None else None)
    else:
        kernel = node.attr("kernel_shape")
    if kernel is None or any(static_dim(k) is None for k in kernel):
        return None
    n = len(kernel)
    strides = node.attr("strides") or [1] * n
    dilations = node.attr("dilations") or [1] * n
    pads = node.attr("pads") or [0] * (2 * n)
    return list(kernel), list(strides), list(dilations), list(pads)


def _windowed_dim(graph, node, tensor, axis, resolve):
    """out = (in + pads - dilation*(kernel-1) - 1) / stride + 1, or ceil(in / stride)
    for SAME padding; pools in ceil mode are left unexpressed."""
    if axis < 2:
        return resolve(node.inputs[0], 0) if axis == 0 else _channels_out(graph, node, resolve)
    window = _window(graph, node)
    auto_pad = node.attr("auto_pad", "NOTSET")
    if window is None or node.attr("ceil_mode", 0) or auto_pad not in ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"):
        return None
    kernel, strides, dilations, pads = window
    i = axis - 2
    x = resolve(node.inputs[0], axis)
    if x is None:
        return None
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return make("div", make("add", x, Const(strides[i] - 1)), Const(strides[i]))
    if auto_pad == "VALID":
        pads = [0] * len(pads)
    span = pads[i] + pads[i + len(kernel)] - dilations[i] * (kernel[i] - 1) - 1
    return make("add", make("div", make("add", x, Const(span)), Const(strides[i])), Const(1))


def _channels_out(graph, node, resolve) -> Expr | None:
    """A conv's output channels come from its weight ([out, in/g, ...]; ConvTranspose:
    [in, out/g, ...]); a pool keeps its input's."""
    if node.op_type == "Conv":
        return resolve(node.inputs[1], 0)
    if node.op_type == "ConvTranspose":
        per = resolve(node.inputs[1], 1)
        return None if per is None else make("mul", per, Const(node.attr("group", 1)))
    return resolve(node.inputs[0], 1)


def _conv_transpose_dim(graph, node, tensor, axis, resolve):
    """out = stride*(in-1) + output_padding + dilation*(kernel-1) + 1 - pads."""
    if axis < 2:
        return resolve(node.inputs[0], 0) if axis == 0 else _channels_out(graph, node, resolve)
    window = _window(graph, node)
    if window is None or node.attr("output_shape") or node.attr("auto_pad", "NOTSET") != "NOTSET":
        return None
    kernel, strides, dilations, pads = window
    i = axis - 2
    out_pad = (node.attr("output_padding") or [0] * len(kernel))[i]
    x = resolve(node.inputs[0], axis)
    if x is None:
        return None
    extra = out_pad + dilations[i] * (kernel[i] - 1) + 1 - pads[i] - pads[i + len(kernel)] - strides[i]
    return make("add", make("mul", x, Const(strides[i])), Const(extra))


def _batchnorm_dim(graph, node, tensor, axis, resolve):
    if tensor == node.outputs[0]:
        return resolve(node.inputs[0], axis)
    return resolve(node.inputs[0], 1) if axis == 0 else None  # mean and variance: [C]


def _global_pool_dim(graph, node, tensor, axis, resolve):
    return Const(1) if axis >= 2 else resolve(node.inputs[0], axis)


def _concat_dim(graph, node, tensor, axis, resolve):
    live = [i for i in node.inputs if i]
    if axis != node.attr("axis") % len(graph.shape(tensor)):
        return _first_resolved(live, axis, resolve)
    total: Expr = Const(0)
    for name in live:
        e = resolve(name, axis)
        if e is None:
            return None
        total = make("add", total, e)
    return total


def _first_resolved(names: list[str], axis: int, resolve) -> Expr | None:
    for name in names:
        e = resolve(name, axis)
        if e is not None:
            return e
    return None


def _split_dim(graph, node, tensor, axis, resolve):
    rank = len(graph.shape(tensor))
    if axis != node.attr("axis", 0) % rank:
        return resolve(node.inputs[0], axis)
    index = node.outputs.index(tensor)
    sizes = node.attr("split")
    if sizes is None and node.input(1):
        sizes = _const_ints(graph, value_expr(graph, node.inputs[1]))
        return _resolve_expr(value_expr(graph, node.inputs[1])[index], resolve) if sizes is None else Const(sizes[index])
    if sizes is not None:
        return Const(int(sizes[index]))
    total = resolve(node.inputs[0], axis)
    if not isinstance(total, Const):
        return None
    n = node.attr("num_outputs", len(node.outputs))
    chunk = -(-total.value // n)
    return Const(max(0, min(chunk, total.value - index * chunk)))


def _slice_dim(graph, node, tensor, axis, resolve):
    """Axes the Slice leaves alone keep their size; a sliced axis of known size with
    constant bounds has the size of its range."""
    x = resolve(node.inputs[0], axis)
    if "starts" in node.attrs:
        starts, ends = node.attrs["starts"], node.attrs["ends"]
        axes, steps = node.attrs.get("axes", list(range(len(starts)))), [1] * len(starts)
    else:
        starts, ends = value_expr(graph, node.inputs[1]), value_expr(graph, node.inputs[2])
        axes = _const_ints(graph, value_expr(graph, node.inputs[3])) if node.input(3) else list(range(len(starts)))
        steps = value_expr(graph, node.inputs[4]) if node.input(4) else [Const(1)] * len(starts)
        if axes is None:
            return None
    rank = len(graph.shape(tensor))
    axes = [int(a) % rank for a in axes]
    if axis not in axes:
        return x
    i = axes.index(axis)
    bounds = _const_ints(graph, [_as_expr(v) for v in (starts[i], ends[i], steps[i])])
    if bounds is None or not isinstance(x, Const) or bounds[2] == 0:
        return None
    return Const(len(range(*slice(*bounds).indices(x.value))))


def _as_expr(v) -> Expr:
    return Const(int(v)) if isinstance(v, (int, np.integer)) else v


def _transpose_dim(graph, node, tensor, axis, resolve):
    perm = node.attr("perm") or list(reversed(range(len(graph.shape(tensor)))))
    return resolve(node.inputs[0], perm[axis])


def _resize_dim(graph, node, tensor, axis, resolve):
    """From the sizes input when given, else from an integer (or 1/integer) scale."""
    axes = node.attr("axes")
    position = axis if axes is None else [a % len(graph.shape(tensor)) for a in axes].index(axis)
    if node.input(3):
        return _resolve_expr(value_expr(graph, node.inputs[3])[position], resolve)
    scales = graph.const(node.input(2)) if node.op_type == "Resize" else graph.const(node.input(1))
    if scales is None:
        return None
    scale = float(np.asarray(scales).reshape(-1)[position])
    x = resolve(node.inputs[0], axis)
    if x is None or scale <= 0:
        return None
    if scale == round(scale):
        return make("mul", x, Const(int(round(scale))))
    if 1 / scale == round(1 / scale):
        return make("div", x, Const(int(round(1 / scale))))
    return None


def _pad_dim(graph, node, tensor, axis, resolve):
    rank = len(graph.shape(tensor))
    pads = node.attr("pads")
    if pads is None:
        pads = graph.const(node.input(1))
    if pads is None:
        return None
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    axes = list(range(rank))
    if node.input(3):
        found = graph.const(node.input(3))
        if found is None:
            return None
        axes = [int(a) % rank for a in np.asarray(found).reshape(-1)]
    x = resolve(node.inputs[0], axis)
    if x is None or axis not in axes:
        return x
    i = axes.index(axis)
    return make("add", x, Const(pads[i] + pads[i + len(axes)]))


def _reshape_dim(graph, node, tensor, axis, resolve):
    entries = value_expr(graph, node.inputs[1])
    if len(entries) != len(graph.shape(tensor)):
        return None
    e = entries[axis]
    if isinstance(e, Const) and e.value == -1:
        return None
    if isinstance(e, Const) and e.value == 0 and not node.attr("allowzero", 0):
        return resolve(node.inputs[0], axis)
    return _resolve_expr(e, resolve)


def _resolve_expr(e: Expr, resolve) -> Expr | None:
    """`e` with every Dim replaced by how `resolve` obtains it."""
    if isinstance(e, Dim):
        return resolve(e.tensor, e.axis) if e.axis is not None else None
    if isinstance(e, Op):
        args = [_resolve_expr(a, resolve) for a in e.args]
        return None if any(a is None for a in args) else make(e.op, *args)
    return None if isinstance(e, Unknown) else e


def _flatten_dim(graph, node, tensor, axis, resolve):
    """[d0 * ... * d(k-1), dk * ... * d(r-1)]."""
    rank = len(graph.shape(node.inputs[0]))
    k = node.attr("axis", 1) % (rank + 1) if node.attr("axis", 1) < 0 else node.attr("axis", 1)
    total: Expr = Const(1)
    for a in (range(k) if axis == 0 else range(k, rank)):
        d = resolve(node.inputs[0], a)
        if d is None:
            return None
        total = make("mul", total, d)
    return total


def _squeeze_dim(graph, node, tensor, axis, resolve):
    in_rank, out_rank = len(graph.shape(node.inputs[0])), len(graph.shape(tensor))
    axes = node.attr("axes")
    if axes is None and node.input(1):
        axes = graph.const(node.input(1))
    if axes is None:
        return None
    axes = sorted({int(a) % (in_rank if node.op_type == "Squeeze" else out_rank)
                   for a in np.asarray(axes).reshape(-1)})
    if node.op_type == "Squeeze":
        kept = [a for a in range(in_rank) if a not in axes]
        return resolve(node.inputs[0], kept[axis])
    if axis in axes:
        return Const(1)
    return resolve(node.inputs[0], [a for a in range(out_rank) if a not in axes].index(axis))


def _matmul_dim(graph, node, tensor, axis, resolve):
    a, b = node.inputs[0], node.inputs[1]
    rank, ra, rb = len(graph.shape(tensor)), len(graph.shape(a)), len(graph.shape(b))
    if ra < 2 or rb < 2:
        return None
    if axis == rank - 1:
        return resolve(b, rb - 1)
    if axis == rank - 2:
        return resolve(a, ra - 2)
    return _broadcast_dim(graph, _Batch(node, (a, b)), tensor, axis, resolve)


@dataclass
class _Batch:
    """The leading (batch) axes of a MatMul broadcast like an elementwise op's inputs."""

    node: Node
    inputs: tuple


def _gemm_dim(graph, node, tensor, axis, resolve):
    if axis == 0:
        return resolve(node.inputs[0], 1 if node.attr("transA", 0) else 0)
    return resolve(node.inputs[1], 0 if node.attr("transB", 0) else 1)


def _reduce_dim(graph, node, tensor, axis, resolve):
    rank = len(graph.shape(node.inputs[0]))
    axes = node.attr("axes")
    if axes is None and node.input(1):
        axes = graph.const(node.input(1))
    axes = list(range(rank)) if axes is None or len(np.asarray(axes).reshape(-1)) == 0 else \
        sorted(int(a) % rank for a in np.asarray(axes).reshape(-1))
    if not node.attr("keepdims", 1):
        kept = [a for a in range(rank) if a not in axes]
        return resolve(node.inputs[0], kept[axis])
    return Const(1) if axis in axes else resolve(node.inputs[0], axis)


def _expand_dim(graph, node, tensor, axis, resolve):
    rank = len(graph.shape(tensor))
    entries = value_expr(graph, node.inputs[1])
    e = entries[axis - (rank - len(entries))] if axis >= rank - len(entries) else Const(1)
    in_shape = graph.shape(node.inputs[0])
    a = axis - (rank - len(in_shape))
    x = resolve(node.inputs[0], a) if a >= 0 else Const(1)
    e = _resolve_expr(e, resolve)
    if x is None or e is None:
        return None
    return x if e == Const(1) else e if x == Const(1) else make("max", x, e)


def _tile_dim(graph, node, tensor, axis, resolve):
    repeats = _resolve_expr(value_expr(graph, node.inputs[1])[axis], resolve)
    x = resolve(node.inputs[0], axis)
    return None if x is None or repeats is None else make("mul", x, repeats)


def _constant_of_shape_dim(graph, node, tensor, axis, resolve):
    return _resolve_expr(value_expr(graph, node.inputs[0])[axis], resolve)


_DIM_RULES = {
    "BatchNormalization": _batchnorm_dim, "ConvTranspose": _conv_transpose_dim, "GlobalAveragePool": _global_pool_dim,
    "GlobalMaxPool": _global_pool_dim, "GlobalLpPool": _global_pool_dim, "Concat": _concat_dim,
    "Split": _split_dim, "Slice": _slice_dim, "Transpose": _transpose_dim, "Resize": _resize_dim, "Upsample": _resize_dim,
    "Pad": _pad_dim, "Reshape": _reshape_dim, "Flatten": _flatten_dim, "Squeeze": _squeeze_dim, "Unsqueeze": _squeeze_dim,
    "MatMul": _matmul_dim, "Gemm": _gemm_dim, "Expand": _expand_dim, "Tile": _tile_dim,
    "ConstantOfShape": _constant_of_shape_dim,
    **{op: _reduce_dim for op in ("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin",
                                  "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare")},
}


# --------------------------------------------------------------- completing shapes

def complete_shapes(graph: Graph) -> int:
    """Fill in output dimensions ONNX shape inference left unknown where the op's
    arithmetic gives them exactly from known ones: a Slice with constant channel bounds
    beside a computed spatial bound, a Resize to Concat(Shape(x)[0:2], ...), a Reshape to
    Concat(Shape(x)[0], C, -1). Known dimensions are never changed. Returns how many
    dimensions were filled."""
    filled = 0
    for node in graph.nodes:
        if node.domain not in ("", "ai.onnx"):
            continue
        for out in node.outputs:
            if out and not graph.is_constant(out):
                filled += _complete(graph, node, out)
    return filled


def _known(d) -> bool:
    return static_dim(d) is not None or isinstance(d, str)


def _complete(graph: Graph, node: Node, out: str) -> int:
    t = graph.tensor(out)
    if t.shape is None:
        rank = _output_rank(graph, node, out)
        if rank is None:
            return 0
        t.shape = (None,) * rank
    if all(_known(d) for d in t.shape):
        return 0
    dims = list(t.shape)
    for axis, d in enumerate(dims):
        if not _known(d):
            dims[axis] = _static_or_named(graph, dim_expr(graph, out, axis, _static_resolve(graph)), d)
    filled = sum(1 for a, b in zip(t.shape, dims) if a != b)
    t.shape = tuple(dims)
    return filled


def _static_resolve(graph: Graph):
    def resolve(tensor: str, axis: int) -> Expr | None:
        shape = graph.shape(tensor)
        if shape is None or axis >= len(shape):
            return None
        d = shape[axis]
        return Const(d) if static_dim(d) is not None else Dim(tensor, axis) if isinstance(d, str) else None
    return resolve


def _static_or_named(graph: Graph, e: Expr | None, default):
    if isinstance(e, Const) and e.value >= 0:
        return e.value
    if isinstance(e, Dim):
        return graph.shape(e.tensor)[e.axis]
    return default


def _output_rank(graph: Graph, node: Node, out: str) -> int | None:
    op = node.op_type
    if not _first_like(node, out):
        return None
    if op == "BatchNormalization" and out != node.outputs[0]:
        return 1
    ranks = [len(graph.shape(i)) if i and graph.shape(i) is not None else None for i in node.inputs]
    first = ranks[0] if ranks else None
    if op in SAME_SHAPE | WINDOWED | {"ConvTranspose", "Resize", "Upsample", "Slice", "Transpose",
                                      "Tile", "Pad", "Split", "GlobalAveragePool", "GlobalMaxPool"}:
        return first
    if op in BROADCASTING or op == "Concat":
        known = [r for r in ranks if r is not None]
        return max(known) if known and (op == "Concat" or len(known) == len(ranks)) else None
    if op in ("Reshape", "ConstantOfShape", "Expand"):
        slot = 0 if op == "ConstantOfShape" else 1
        entries = value_expr(graph, node.inputs[slot])
        shape = graph.shape(node.inputs[slot])
        length = static_dim(shape[0]) if shape is not None and len(shape) == 1 else None
        if length is None and not any(isinstance(e, Unknown) for e in entries):
            length = len(entries)
        if op == "Expand" and length is not None and first is not None:
            return max(first, length)
        return length
    if op == "MatMul" and None not in ranks[:2]:
        return max(ranks[:2])
    if op == "Flatten":
        return 2
    return None
