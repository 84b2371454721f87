"""build_twin: check every op has an implementation, then assemble the Twin."""

from __future__ import annotations

from ..graph.capture_onnx import as_loaded, default_opset, node_names, tensor_loader
from .errors import OpVariantUnsupported, TwinUnsupported
from .graph import TwinNode, constant_node_value, consumers, is_trainable, parse_attrs
from .module import Twin
from .op_table import OPS
from .registry import OpContext

_DEFAULT_DOMAINS = ("", "ai.onnx")


def build_twin(model) -> Twin:
    """A Twin of `model` (path, onnx.ModelProto or LoadedModel); raises TwinUnsupported
    naming every op type without an implementation before loading any weight."""
    loaded = as_loaded(model)
    proto = loaded.proto
    if proto.functions:
        import onnx.inliner  # lazy: new in onnx 1.16 (the floor is 1.15), only local functions need it
        proto = onnx.inliner.inline_local_functions(proto)
    graph = proto.graph
    opset = default_opset(proto)
    table = OPS

    missing = set()
    for node in graph.node:
        if node.domain not in _DEFAULT_DOMAINS:
            missing.add(f"{node.domain}.{node.op_type}")
        elif node.op_type != "Constant" and node.op_type not in table:
            missing.add(node.op_type)
    if missing:
        raise TwinUnsupported(missing)

    nodes, details, constant_nodes = [], {}, {}
    for name, node in zip(node_names(proto), graph.node):
        if node.op_type == "Constant":
            try:
                constant_nodes[node.output[0]] = constant_node_value(node)
            except ValueError as exc:
                details["Constant"] = str(exc)
            continue
        attrs = parse_attrs(node)
        ctx = OpContext(node.op_type, attrs, opset, len(node.input), len(node.output))
        try:
            fn = table[node.op_type](ctx)
        except OpVariantUnsupported as exc:
            details[node.op_type] = str(exc)
            continue
        nodes.append(TwinNode(name, node.op_type, list(node.input), list(node.output), attrs, fn))
    if details:
        raise TwinUnsupported(details, details)

    uses = consumers(graph)
    outputs = {o.name for o in graph.output}
    constants = {}
    for init in graph.initializer:
        array = tensor_loader(init, loaded.base_dir)()
        constants[init.name] = (array, is_trainable(array, uses.get(init.name, []), False, outputs, init.name))
    for name, array in constant_nodes.items():
        constants[name] = (array, is_trainable(array, uses.get(name, []), True, outputs, name))
    inits = {t.name for t in graph.initializer}
    inputs = [vi.name for vi in graph.input if vi.name not in inits]
    return Twin(loaded, opset, nodes, inputs, [o.name for o in graph.output], constants)
