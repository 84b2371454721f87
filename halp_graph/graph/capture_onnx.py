"""ONNX front end: read a model file and turn it into a shape-annotated neutral Graph.

Capture reads only the graph structure and small constants. Large initializers (and all
external data) stay where they are and are loaded on demand, so capture costs the same for
a 5 MB and a 5 GB model. Shapes come from ONNX shape inference run on a skeleton copy of
the model whose large initializers keep their dims but not their bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper, helper, numpy_helper

from ..errors import CaptureError
from .computed_weights import mark_computed_weights
from .ir import Graph, Node, Shape, Tensor
from .shape_values import fold_small_constants

MIN_OPSET, MAX_OPSET = 11, 21
SKELETON_BYTES = 4096  # initializers above this size are not copied for shape inference


@dataclass
class LoadedModel:
    """An ONNX model plus the directory its external data (if any) is relative to."""

    proto: onnx.ModelProto
    base_dir: str
    path: str | None = None

    @property
    def has_external_data(self) -> bool:
        return any(external_data_helper.uses_external_data(t) for t in self.proto.graph.initializer)


def load_model(path: str | os.PathLike) -> LoadedModel:
    """Read an ONNX file without pulling in its external data, with one-line errors."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CaptureError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CaptureError(f"{path}: is a directory, expected an .onnx file")
    if os.path.getsize(path) == 0:
        raise CaptureError(f"{path}: file is empty")
    try:
        proto = onnx.load(path, load_external_data=False)
    except DecodeError as exc:
        raise CaptureError(f"{path}: not an ONNX model, or the file is truncated ({exc})") from None
    except Exception as exc:  # onnx raises assorted types for garbage input
        raise CaptureError(f"{path}: cannot be read as ONNX ({type(exc).__name__}: {exc})") from None
    if not proto.HasField("graph") or len(proto.graph.node) == 0:
        raise CaptureError(f"{path}: not an ONNX model, or the file is truncated (no graph nodes)")
    model = LoadedModel(proto, os.path.dirname(os.path.abspath(path)), path)
    _check_external_files(model)
    return model


def from_proto(proto: onnx.ModelProto, base_dir: str = ".") -> LoadedModel:
    return LoadedModel(proto, base_dir)


def as_loaded(model: "LoadedModel | onnx.ModelProto | str | os.PathLike") -> LoadedModel:
    """A LoadedModel from a path, an in-memory ModelProto, or a LoadedModel."""
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, onnx.ModelProto):
        return from_proto(model)
    return load_model(model)


def _check_external_files(model: LoadedModel) -> None:
    for init in model.proto.graph.initializer:
        if external_data_helper.uses_external_data(init):
            info = external_data_helper.ExternalDataInfo(init)
            full = os.path.join(model.base_dir, info.location)
            if not os.path.exists(full):
                raise CaptureError(f"external data file {info.location!r} of tensor {init.name!r} "
                                   f"is missing (looked in {model.base_dir})")
            need = (info.offset or 0) + (info.length or 0)
            if info.length and os.path.getsize(full) < need:
                raise CaptureError(f"external data file {info.location!r} is truncated "
                                   f"(tensor {init.name!r} needs {need} bytes)")


def default_opset(proto: onnx.ModelProto) -> int:
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    raise CaptureError("model imports no version of the default ONNX domain")


def tensor_loader(init: onnx.TensorProto, base_dir: str):
    """A zero-argument function returning the initializer as an array (external data too)."""

    def load() -> np.ndarray:
        if external_data_helper.uses_external_data(init):
            t = onnx.TensorProto()
            t.CopyFrom(init)
            try:
                external_data_helper.load_external_data_for_tensor(t, base_dir)
            except (OSError, ValueError) as exc:
                raise CaptureError(f"cannot read external data of {init.name!r}: {exc}") from None
            return numpy_helper.to_array(t)
        return numpy_helper.to_array(init)

    return load


def _skeleton(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy for shape inference: big initializers keep dims and type, not bytes."""
    skel = onnx.ModelProto()
    skel.ir_version = proto.ir_version
    skel.opset_import.extend(proto.opset_import)
    skel.functions.extend(proto.functions)
    g = skel.graph
    src = proto.graph
    g.name = src.name
    g.node.extend(src.node)
    g.input.extend(src.input)
    g.output.extend(src.output)
    g.value_info.extend(src.value_info)
    for init in src.initializer:
        if external_data_helper.uses_external_data(init) or init.ByteSize() > SKELETON_BYTES:
            g.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
        else:
            g.initializer.append(init)
    # Inputs that only existed to shadow initializers are fine twice for inference;
    # drop duplicates so the checker does not complain.
    seen, unique = set(), []
    for vi in g.input:
        if vi.name not in seen:
            seen.add(vi.name)
            unique.append(vi)
    del g.input[:]
    g.input.extend(unique)
    return skel


def _shape_of(type_proto: onnx.TypeProto) -> tuple[Shape | None, int | None]:
    if not type_proto.HasField("tensor_type"):
        return None, None
    tt = type_proto.tensor_type
    dtype = tt.elem_type or None
    if not tt.HasField("shape"):
        return None, dtype
    dims: list = []
    for d in tt.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:  # exporters write -1 for "unknown"
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param and not d.dim_param.startswith("unk__"):
            dims.append(d.dim_param)  # "unk__N" names are shape inference's own unknowns
        else:
            dims.append(None)
    return tuple(dims), dtype


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    for a in node.attribute:
        if a.name == "value":
            return numpy_helper.to_array(a.t)
        if a.name == "value_float":
            return np.array(a.f, dtype=np.float32)
        if a.name == "value_floats":
            return np.array(list(a.floats), dtype=np.float32)
        if a.name == "value_int":
            return np.array(a.i, dtype=np.int64)
        if a.name == "value_ints":
            return np.array(list(a.ints), dtype=np.int64)
    return None


def _attrs(node: onnx.NodeProto) -> dict:
    out = {}
    for a in node.attribute:
        if a.type == onnx.AttributeProto.TENSOR:
            out[a.name] = numpy_helper.to_array(a.t)
        elif a.type == onnx.AttributeProto.GRAPH:
            out[a.name] = a.g
        else:
            v = helper.get_attribute_value(a)
            out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


_GRAPH_TYPES = (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)


def _implicit_inputs(node: onnx.NodeProto) -> list[str]:
    """Outer tensors the node's subgraphs (If branches, Loop and Scan bodies) read: listed
    after its own inputs, so every use of a tensor is seen (a group whose channels reach
    a subgraph is frozen, since no rule edits inside one)."""
    if not any(a.type in _GRAPH_TYPES for a in node.attribute):
        return []  # most nodes: nothing to walk (called on every node of a capture)
    outer: list[str] = []
    for a in node.attribute:
        graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
        for g in graphs:
            outer += _outer_names(g)
    seen = set(node.input)
    return [n for n in dict.fromkeys(outer) if n and n not in seen]


def _outer_names(graph: onnx.GraphProto) -> list[str]:
    local = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    names: list[str] = []
    for node in graph.node:
        names += [n for n in list(node.input) + _implicit_inputs(node) if n and n not in local]
        local.update(node.output)
    return names


def node_names(proto: onnx.ModelProto) -> list[str]:
    """Unique, deterministic names for the model's nodes (exporters leave some empty)."""
    names, used = [], set()
    for i, node in enumerate(proto.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        if name in used:
            name = f"{name}__{i}"
        used.add(name)
        names.append(name)
    return names


def capture(model: LoadedModel | onnx.ModelProto) -> Graph:
    """Build the neutral Graph of an ONNX model, with inferred shapes and constants."""
    if isinstance(model, onnx.ModelProto):
        model = from_proto(model)
    proto = model.proto
    opset = default_opset(proto)
    if opset < MIN_OPSET:
        raise CaptureError(f"opset {opset} is older than the supported {MIN_OPSET}..{MAX_OPSET}; "
                           f"convert it first with onnx.version_converter.convert_version")
    skel = _skeleton(proto)
    try:
        onnx.checker.check_model(skel)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CaptureError(f"the model is not valid ONNX: {first}") from None
    inferred = _infer(skel)

    tensors: dict[str, Tensor] = {}
    _read_shapes(inferred.graph, tensors)
    for init in proto.graph.initializer:
        t = tensors.get(init.name) or Tensor(init.name)
        t.shape = tuple(int(d) for d in init.dims)
        t.dtype = init.data_type
        t.loader = tensor_loader(init, model.base_dir)
        t.is_initializer = True
        tensors[init.name] = t

    names = node_names(proto)
    nodes: list[Node] = []
    for name, pn in zip(names, proto.graph.node):
        node = Node(name, pn.op_type, list(pn.input) + _implicit_inputs(pn), list(pn.output), _attrs(pn),
                    pn.domain)
        nodes.append(node)
        if pn.op_type == "Constant" and pn.domain in ("", "ai.onnx"):
            value = _constant_node_value(pn)
            if value is not None:
                t = tensors.setdefault(pn.output[0], Tensor(pn.output[0]))
                t._value = value
                t.shape = tuple(value.shape)
    for name in [o for n in nodes for o in n.outputs] + [i.name for i in proto.graph.input]:
        tensors.setdefault(name, Tensor(name))

    init_names = {i.name for i in proto.graph.initializer}
    inputs = [i.name for i in proto.graph.input if i.name not in init_names]
    outputs = [o.name for o in proto.graph.output]
    graph = Graph(nodes, tensors, inputs, outputs, opset, source="onnx")
    fold_small_constants(graph)
    for _ in range(3):  # folded shape arithmetic can unlock shapes ONNX could not infer
        if not _has_unknown_shapes(graph):
            break
        refined = _infer(_with_folded(skel, graph))
        before = _shape_snapshot(graph)
        _read_shapes(refined.graph, graph.tensors, only_unknown=True)
        fold_small_constants(graph)
        if _shape_snapshot(graph) == before:
            break
    mark_computed_weights(graph, list(proto.graph.node), list(proto.opset_import))
    return graph


def _infer(skel: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(skel, strict_mode=True, data_prop=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CaptureError(f"ONNX shape inference failed, shapes cannot be inferred: {first}") from None


def _read_shapes(g: onnx.GraphProto, tensors: dict[str, Tensor], only_unknown: bool = False) -> None:
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        shape, dtype = _shape_of(vi.type)
        t = tensors.get(vi.name)
        if t is None:
            tensors[vi.name] = Tensor(vi.name, shape, dtype)
        elif not only_unknown or _unknown(t.shape):
            if shape is not None:
                t.shape = shape
            t.dtype = t.dtype or dtype


def _unknown(shape) -> bool:
    return shape is None or any(d is None for d in shape)


def _has_unknown_shapes(graph: Graph) -> bool:
    return any(_unknown(graph.shape(o)) for n in graph.nodes for o in n.outputs if o)


def _shape_snapshot(graph: Graph) -> dict:
    return {name: t.shape for name, t in graph.tensors.items()}


def _with_folded(skel: onnx.ModelProto, graph: Graph) -> onnx.ModelProto:
    """The skeleton with every folded value as an initializer and its producers removed."""
    folded = {name for name, t in graph.tensors.items()
              if t._value is not None and not t.is_initializer and name in graph.producer}
    out = onnx.ModelProto()
    out.CopyFrom(skel)
    keep = [n for n in out.graph.node if not all(o in folded for o in n.output if o)]
    del out.graph.node[:]
    out.graph.node.extend(keep)
    produced = {o for n in keep for o in n.output}
    for name in sorted(folded - produced):
        out.graph.initializer.append(numpy_helper.from_array(graph.tensors[name]._value, name))
    return out
