"""A copy of an ONNX model being edited, addressed through the captured graph's node indices.

Rewrites queue their changes here (new constants, changed inputs and attributes, removed
or inserted nodes, sliced parameters) and `finish` assembles the result: nodes in order,
dead code removed, value_info re-inferred. External data references are kept as they are,
so untouched weights of a large model are never read.

Shape values are built here too: `emit_vector` and `tensor_shape` compute a shape (or any
integer vector) at run time from constants and the dimensions of tensors that are still
there, so a rewritten model keeps every dynamic axis of the original.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper

from halp_graph.errors import RewriteError
from halp_graph.graph.axes import AxisKey
from halp_graph.graph.capture_onnx import LoadedModel
from halp_graph.graph.ir import Graph
from halp_graph.graph.shape_values import Const, Dim, Expr, Op, depends, dim_expr, static_dim

from .empty_branches import unavailable_tensors  # the branch rules live there

ONNX_OPS = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "mod": "Mod", "max": "Max",
            "min": "Min"}


class ModelEditor:
    def __init__(self, model: LoadedModel, graph: Graph):
        self.model = model
        self.graph = graph
        self.proto = onnx.ModelProto()
        self.proto.CopyFrom(model.proto)
        self.nodes: list[onnx.NodeProto | None] = list(self.proto.graph.node)
        self.inserted: dict[int, list[onnx.NodeProto]] = defaultdict(list)
        self.params: dict[tuple[int, int], np.ndarray] = {}
        self.new_inits: list[onnx.TensorProto] = []
        self._used_names = set(graph.tensors) | {n.name for n in graph.nodes}
        self._counter = 0
        self.masks: dict = {}  # AxisKey -> kept-element mask, set by passes that prune
        self.fixed: set[tuple[int, int]] = set()  # (node index, slot) of rebuilt shape values
        self._unavailable: set[str] | None = None
        self._resolved: dict = {}
        self._shapes: dict[tuple[int, str], str] = {}  # Shape(tensor) inserted before a node
        self._flats: dict[tuple[int, str], str] = {}
        self._names: dict | None = None

    # ---------------------------------------------------------------- naming
    def fresh(self, hint: str) -> str:
        base = (hint or "t").replace("::", "_")
        while True:
            self._counter += 1
            name = f"{base}__hg{self._counter}"
            if name not in self._used_names:
                self._used_names.add(name)
                return name

    # ------------------------------------------------------------- constants
    def add_const(self, value: np.ndarray, hint: str) -> str:
        name = self.fresh(hint)
        self.new_inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def param(self, index: int, slot: int) -> np.ndarray:
        """The current value of constant input `slot` of node `index` (edited or original)."""
        if (index, slot) in self.params:
            return self.params[(index, slot)]
        value = self.graph.const(self.graph.nodes[index].inputs[slot])
        if value is None:
            raise RewriteError(f"input {slot} of {self.graph.nodes[index].name} is not a constant")
        return value

    def set_param(self, index: int, slot: int, value: np.ndarray) -> None:
        self.params[(index, slot)] = value

    # ------------------------------------------------------------------ nodes
    def node(self, index: int) -> onnx.NodeProto:
        node = self.nodes[index]
        if node is None:
            raise RewriteError(f"node {self.graph.nodes[index].name} was removed")
        return node

    def is_removed(self, index: int) -> bool:
        return self.nodes[index] is None

    def set_input(self, index: int, slot: int, name: str) -> None:
        node = self.node(index)
        while len(node.input) <= slot:
            node.input.append("")
        node.input[slot] = name

    def set_attr(self, index: int, name: str, value) -> None:
        node = self.node(index)
        self.remove_attr(index, name)
        node.attribute.append(helper.make_attribute(name, value))

    def remove_attr(self, index: int, name: str) -> None:
        node = self.node(index)
        keep = [a for a in node.attribute if a.name != name]
        del node.attribute[:]
        node.attribute.extend(keep)

    def remove(self, index: int) -> None:
        self.nodes[index] = None

    def insert_before(self, index: int, op_type: str, inputs: list[str], outputs: list[str],
                      **attrs) -> onnx.NodeProto:
        node = helper.make_node(op_type, inputs, outputs, name=self.fresh(op_type), **attrs)
        self.inserted[index].append(node)
        return node

    # ------------------------------------------------------------ shape values
    def orig_dim(self, tensor: str, axis: int) -> int | None:
        """The statically known size of an axis in the original model."""
        shape = self.graph.shape(tensor)
        return static_dim(shape[axis]) if shape is not None and axis < len(shape) else None

    def kept_dim(self, tensor: str, axis: int) -> int | None:
        """The statically known size of an axis once the plan is applied."""
        mask = self.masks.get(AxisKey(tensor, axis))
        return int(mask.sum()) if mask is not None else self.orig_dim(tensor, axis)

    def is_changed(self, tensor: str, axis: int | None) -> bool:
        if axis is None:
            return any(k.tensor == tensor for k in self.masks)
        return AxisKey(tensor, axis) in self.masks

    def unavailable(self) -> set[str]:
        """Tensors the rewritten model no longer has at their original shape: emptied
        ones and those computed only from layers folded to constants."""
        if self._unavailable is None:
            self._unavailable = unavailable_tensors(self)
        return self._unavailable

    def usable(self, tensor: str, index: int) -> bool:
        """True when `tensor` exists, at its original shape, before node `index` runs."""
        if self.graph.is_input(tensor) or self.graph.is_constant(tensor):
            return True
        node = self.graph.producer.get(tensor)
        return node is not None and node.index < index and tensor not in self.unavailable()

    def resolve_dim(self, index: int, tensor: str, axis: int, depth: int = 0) -> Expr | None:
        """How to obtain dimension `axis` of `tensor` before node `index`: a constant, a
        dimension of a usable tensor (itself, or one with the same symbolic size), or
        arithmetic over the dimensions of what it was computed from."""
        static = self.orig_dim(tensor, axis)
        if static is not None:
            return Const(static)
        if self.usable(tensor, index):
            return Dim(tensor, axis)
        named = self._same_named(tensor, axis, index)
        if named is not None or depth > 200:
            return named
        key = (index, tensor, axis)
        if key not in self._resolved:
            self._resolved[key] = dim_expr(self.graph, tensor, axis,
                                           lambda t, a: self.resolve_dim(index, t, a, depth + 1))
        return self._resolved[key]

    def _same_named(self, tensor: str, axis: int, index: int) -> Dim | None:
        shape = self.graph.shape(tensor)
        name = shape[axis] if shape is not None else None
        if not isinstance(name, str):
            return None
        if self._names is None:
            self._names = defaultdict(list)
            candidates = list(self.graph.inputs) + [o for n in self.graph.nodes for o in n.outputs if o]
            for t in candidates:
                for a, d in enumerate(self.graph.shape(t) or ()):
                    if isinstance(d, str):
                        self._names[d].append((t, a))
        return next((Dim(t, a) for t, a in self._names.get(name, ()) if self.usable(t, index)), None)

    def emit(self, index: int, expr: Expr, hint: str) -> str:
        """A 1-element int64 tensor computing `expr` before node `index`."""
        if isinstance(expr, Const):
            return self.add_const(np.array([expr.value], np.int64), hint)
        if isinstance(expr, Dim):
            found = self.resolve_dim(index, expr.tensor, expr.axis)
            if found is None:
                raise RewriteError(f"cannot express dimension {expr.axis} of {expr.tensor!r} "
                                   f"before {self.graph.nodes[index].name} at run time")
            if found != expr:
                return self.emit(index, found, hint)
            return self._gather(index, self._shape_of(index, expr.tensor), expr.axis, hint)
        if isinstance(expr, Op):
            args = [self.emit(index, a, hint) for a in expr.args]
            out = self.fresh(hint)
            self.insert_before(index, ONNX_OPS[expr.op], args, [out])
            return out
        raise RewriteError(f"{hint}: cannot rebuild a value {expr.reason}")

    def _shape_of(self, index: int, tensor: str) -> str:
        if (index, tensor) not in self._shapes:
            out = self.fresh(f"{tensor}_shape")
            self.insert_before(index, "Shape", [tensor], [out])
            self._shapes[(index, tensor)] = out
        return self._shapes[(index, tensor)]

    def _gather(self, index: int, vector: str, position: int, hint: str) -> str:
        out = self.fresh(hint)
        self.insert_before(index, "Gather", [vector, self.add_const(np.array([position], np.int64), "index")],
                           [out], axis=0)
        return out

    def emit_vector(self, index: int, exprs: list[Expr], hint: str, original: str | None = None,
                    entries: list[Expr] | None = None) -> str:
        """A tensor computing `exprs` before node `index`, shaped and typed like `original`
        when given. Entries equal to the original's own (`entries`) that read no pruned size
        are taken from the original at run time, whatever computed them."""
        parts: list[str] = []
        consts: list[int] = []

        def flush():
            if consts:
                parts.append(self.add_const(np.array(consts, dtype=np.int64), hint))
                consts.clear()

        for i, e in enumerate(exprs):
            if isinstance(e, Const):
                consts.append(e.value)
                continue
            flush()
            if original is not None and entries is not None and e == entries[i] and \
                    not any(self.is_changed(d.tensor, d.axis) for d in depends(e)):
                parts.append(self._gather(index, self._flat(index, original), i, hint))
            else:
                parts.append(self.emit(index, e, hint))
        flush()
        out = parts[0] if len(parts) == 1 else self.fresh(hint)
        if len(parts) > 1:
            self.insert_before(index, "Concat", parts, [out], axis=0)
        return self._like(index, out, original, hint) if original is not None else out

    def _flat(self, index: int, name: str) -> str:
        """`name` as a 1-D int64 vector (shape values may be scalars or int32)."""
        if (index, name) not in self._flats:
            self._flats[(index, name)] = self._flatten(index, name)
        return self._flats[(index, name)]

    def _flatten(self, index: int, name: str) -> str:
        shape = self.graph.shape(name)
        out = name
        if self.graph.tensor(name).dtype not in (None, onnx.TensorProto.INT64):
            out = self.fresh(f"{name}_i64")
            self.insert_before(index, "Cast", [name], [out], to=onnx.TensorProto.INT64)
        if shape is not None and len(shape) == 0:
            flat = self.fresh(f"{name}_vec")
            self.insert_before(index, "Reshape", [out, self.add_const(np.array([1], np.int64), "one")], [flat])
            out = flat
        return out

    def _like(self, index: int, vector: str, original: str, hint: str) -> str:
        """`vector` (1-D int64) with the rank and element type of `original`."""
        shape = self.graph.shape(original)
        out = vector
        if shape is not None and len(shape) == 0:
            out = self.fresh(hint)
            self.insert_before(index, "Reshape", [vector, self.add_const(np.array([], np.int64), "scalar")], [out])
        dtype = self.graph.tensor(original).dtype
        if dtype not in (None, onnx.TensorProto.INT64):
            cast = self.fresh(hint)
            self.insert_before(index, "Cast", [out], [cast], to=dtype)
            out = cast
        return out

    def tensor_shape(self, index: int, tensor: str, sizes: dict[int, int], hint: str) -> str:
        """The shape of `tensor` as computed before node `index`: `sizes` where given (the
        pruned channel axes), the original dimensions elsewhere, symbolic ones included."""
        shape = self.graph.shape(tensor)
        if shape is None:
            raise RewriteError(f"the shape of {tensor!r} is not known; cannot rebuild it")
        exprs = []
        for axis, d in enumerate(shape):
            e = Const(sizes[axis]) if axis in sizes else self.resolve_dim(index, tensor, axis)
            if e is None:
                raise RewriteError(f"cannot express dimension {d!r} (axis {axis}) of {tensor!r} "
                                   f"at run time: no tensor left in the rewritten model has it, "
                                   f"and it cannot be computed from one")
            exprs.append(e)
        return self.emit_vector(index, exprs, hint)

    # ----------------------------------------------------------------- finish
    def finish(self) -> LoadedModel:
        written: dict[tuple, str] = {}  # one copy per distinct slice of a constant
        for (index, slot), value in self.params.items():
            if self.nodes[index] is None:
                continue
            src = self.graph.param_source(self.graph.nodes[index].inputs[slot]) or \
                self.graph.nodes[index].inputs[slot]
            fingerprint = (src, value.shape, value.dtype.str, hashlib.sha1(value.tobytes()).hexdigest())
            if fingerprint not in written:
                written[fingerprint] = self.add_const(value, src)
            self.set_input(index, slot, written[fingerprint])
        ordered: list[onnx.NodeProto] = []
        for i, node in enumerate(self.nodes):
            ordered += self.inserted.get(i, [])
            if node is not None:
                ordered.append(node)
        g = self.proto.graph
        del g.node[:]
        g.node.extend(ordered)
        g.initializer.extend(self.new_inits)
        del g.value_info[:]
        remove_dead_code(self.proto)
        return LoadedModel(self.proto, self.model.base_dir, self.model.path)


def remove_dead_code(proto: onnx.ModelProto) -> int:
    """Drop nodes whose outputs nobody reads, then unused initializers. Returns nodes removed."""
    g = proto.graph
    needed = {o.name for o in g.output}
    kept: list[onnx.NodeProto] = []
    removed = 0
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output if o):
            kept.append(node)
            needed.update(i for i in node.input if i)
            needed.update(_subgraph_inputs(node))
        else:
            removed += 1
    kept.reverse()
    del g.node[:]
    g.node.extend(kept)
    used_inits = [t for t in g.initializer if t.name in needed]
    dropped = {t.name for t in g.initializer} - {t.name for t in used_inits}
    del g.initializer[:]
    g.initializer.extend(used_inits)
    # old-style models also list initializers as graph inputs; those go with them
    inputs = [i for i in g.input if i.name not in dropped]
    del g.input[:]
    g.input.extend(inputs)
    return removed


def _subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    names: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for sub in graphs:
            for n in sub.node:
                names.update(n.input)
    return names
