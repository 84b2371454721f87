"""A copy of an ONNX model being edited, addressed through the captured graph's node indices.

Rewrites queue their changes here (new constants, changed inputs and attributes, removed
or inserted nodes, sliced parameters) and `finish` assembles the result: nodes in order,
dead code removed, value_info re-inferred. External data references are kept as they are,
so untouched weights of a large model are never read.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper

from halp_graph.graph.capture_onnx import LoadedModel
from halp_graph.graph.ir import Graph
from halp_graph.graph.shape_values import ConstEntry, DimEntry, Entry
from halp_graph.errors import RewriteError


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

    # ----------------------------------------------------------- shape vectors
    def shape_vector(self, index: int, entries: list[Entry], values: dict[int, int], hint: str) -> str:
        """A new 1-D int64 tensor, computed before node `index`: entry i is values[i] when
        given, else the original constant or run-time dimension."""
        parts: list[str] = []
        consts: list[int] = []

        def flush():
            if consts:
                parts.append(self.add_const(np.array(consts, dtype=np.int64), hint))
                consts.clear()

        for i, entry in enumerate(entries):
            if i in values:
                consts.append(int(values[i]))
            elif isinstance(entry, ConstEntry):
                consts.append(entry.value)
            elif isinstance(entry, DimEntry):
                static = self._static_dim(entry)
                if static is not None:
                    consts.append(static)
                    continue
                flush()
                parts.append(self.runtime_dim(index, entry.tensor, entry.axis))
            else:
                raise RewriteError(f"shape entry {i} for {self.graph.nodes[index].name} is "
                                   f"{entry.reason}; cannot rewrite it")
        flush()
        if len(parts) == 1:
            return parts[0]
        out = self.fresh(hint)
        self.insert_before(index, "Concat", parts, [out], axis=0)
        return out

    def _static_dim(self, entry: DimEntry) -> int | None:
        shape = self.graph.shape(entry.tensor)
        d = shape[entry.axis] if shape is not None else None
        return d if isinstance(d, int) and not self.dim_changed(entry.tensor, entry.axis) else None

    def dim_changed(self, tensor: str, axis: int) -> bool:
        from halp_graph.graph.axes import AxisKey
        return AxisKey(tensor, axis) in self.masks

    def runtime_dim(self, index: int, tensor: str, axis: int) -> str:
        shape_out = self.fresh(f"{tensor}_shape")
        self.insert_before(index, "Shape", [tensor], [shape_out])
        dim = self.fresh(f"{tensor}_dim{axis}")
        self.insert_before(index, "Gather", [shape_out, self.add_const(np.array([axis], np.int64), "axis")],
                           [dim], axis=0)
        return dim

    def runtime_shape(self, index: int, shape: tuple, hint: str) -> str:
        """A 1-D int64 tensor holding `shape`; symbolic dims are read from a graph input
        that has the same dimension name."""
        entries: list[Entry] = []
        for axis, d in enumerate(shape):
            if isinstance(d, int):
                entries.append(ConstEntry(d, "", axis, "", 0))
                continue
            source = self._input_with_dim(d)
            if source is None:
                raise RewriteError(f"cannot express dimension {d!r} of {hint} at run time")
            entries.append(DimEntry(*source))
        return self.shape_vector(index, entries, {}, hint)

    def _input_with_dim(self, dim) -> tuple[str, int] | None:
        if dim is None:
            return None
        for name in self.graph.inputs:
            shape = self.graph.shape(name) or ()
            for axis, d in enumerate(shape):
                if d == dim:
                    return name, axis
        return None

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
