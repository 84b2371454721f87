"""Static shapes that ONNX shape inference leaves unknown, read off one run of the model.

A model whose graph inputs are all static gives every tensor a static shape when it
runs, but ONNX shape inference does not follow every computation of a shape (timm's Swin
under the legacy exporter: the window count its attention reshapes to), and a latency
table needs the shapes of every layer. Where some tensor's shape is unknown and every
graph input is static, the model is run once in ONNX Runtime with those tensors as extra
outputs, on random inputs, and the shapes they took are written into the graph.
"""

from __future__ import annotations

import onnx
from onnx import helper

from ..graph import Graph
from ..graph.capture_onnx import LoadedModel
from ..runtime import random_inputs, session


def fill_shapes_from_a_run(graph: Graph, model: LoadedModel) -> list[str]:
    """Give the unknown shapes of `graph` (the capture of `model`) the ones one run
    produces, when every graph input is static; returns the tensors filled."""
    if not graph.inputs or not all(_static(graph.shape(name)) for name in graph.inputs):
        return []
    unknown = [o for node in graph.nodes for o in node.outputs
               if o and not graph.is_constant(o) and not _static(graph.shape(o))]
    if not unknown:
        return []
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)
    outputs = {o.name for o in proto.graph.output}
    for name in unknown:
        if name not in outputs:
            proto.graph.output.append(helper.make_tensor_value_info(name, graph.tensor(name).dtype or 0, None))
    values = session(LoadedModel(proto, model.base_dir)).run(unknown, random_inputs(model, batch=1))
    for name, value in zip(unknown, values):
        graph.tensor(name).shape = tuple(int(d) for d in value.shape)
    return unknown


def _static(shape) -> bool:
    return shape is not None and all(isinstance(d, int) for d in shape)
