"""Twin -> ONNX: the source model with trainable (and replaced) constants rewritten.

External data is read through the model's base directory, so the returned proto holds
every tensor inline and stands on its own.
"""

from __future__ import annotations

import onnx
from onnx import external_data_helper, helper, numpy_helper

from ..graph.capture_onnx import tensor_loader


def twin_to_onnx(twin) -> onnx.ModelProto:
    src = twin.loaded.proto
    proto = onnx.ModelProto()
    proto.CopyFrom(src)
    fresh = set(twin.parameter_names()) | twin._changed
    graph = proto.graph
    shapes = {}
    for i, init in enumerate(graph.initializer):
        if init.name in fresh:
            array = twin.constant(init.name).detach().cpu().numpy()
            array = array.astype(helper.tensor_dtype_to_np_dtype(init.data_type))
            graph.initializer[i].CopyFrom(numpy_helper.from_array(array, init.name))
            shapes[init.name] = array.shape
        elif external_data_helper.uses_external_data(init):
            array = tensor_loader(init, twin.loaded.base_dir)()
            graph.initializer[i].CopyFrom(numpy_helper.from_array(array, init.name))
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] in fresh:
            array = twin.constant(node.output[0]).detach().cpu().numpy()
            for a in node.attribute:
                if a.name == "value":
                    array = array.astype(helper.tensor_dtype_to_np_dtype(a.t.data_type))
                    a.t.CopyFrom(numpy_helper.from_array(array, node.output[0]))
    for vi in graph.input:  # initializers listed as inputs keep a matching shape
        if vi.name in shapes and vi.type.tensor_type.HasField("shape"):
            dims = vi.type.tensor_type.shape.dim
            if len(dims) == len(shapes[vi.name]):
                for d, n in zip(dims, shapes[vi.name]):
                    d.Clear()
                    d.dim_value = int(n)
    return proto
