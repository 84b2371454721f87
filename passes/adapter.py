"""The boundary between onnx-ir models and the proto-based rewrites underneath the passes.

`as_ir_model` is the one documented way in for a model that is not an `ir.Model`: an
`onnx.ModelProto`, or a `LoadedModel` (a proto plus the directory its external data is
relative to, what `halp_graph.graph.load_model` returns):

    result = PruneChannelsPass(plan)(as_ir_model(onnx.load("m.onnx", load_external_data=False)))
    proto = ir.to_proto(result.model)

`to_loaded` and `from_loaded` are what every pass does around its rewrite, with
onnx_ir.serde. Neither reads external data: an `ir.ExternalTensor` becomes a TensorProto
that points at the same file (and back), so untouched weights of a large model stay on
disk and lazy; only the tensors a rewrite slices become in-memory tensors.
"""

from __future__ import annotations

import os

import onnx
import onnx_ir as ir

from halp_graph.graph.capture_onnx import LoadedModel


def as_ir_model(model: ir.Model | onnx.ModelProto | LoadedModel) -> ir.Model:
    """An `ir.Model` for the passes; a ModelProto's external data is relative to the current
    directory (as with `ir.from_proto`), a LoadedModel's to its own directory."""
    if isinstance(model, ir.Model):
        return model
    if isinstance(model, onnx.ModelProto):
        model = LoadedModel(model, "")
    if isinstance(model, LoadedModel):
        return from_loaded(model)
    raise TypeError(f"expected an onnx_ir.Model, onnx.ModelProto or LoadedModel, not {type(model).__name__}")


def to_loaded(model: ir.Model) -> LoadedModel:
    """The model as a ModelProto with its external data directory, for the rewrites."""
    return LoadedModel(ir.serde.serialize_model(model), _external_dir(model))


def from_loaded(model: LoadedModel) -> ir.Model:
    """The rewrite's result as an `ir.Model`; its external tensors stay lazy."""
    out = ir.serde.deserialize_model(model.proto)
    ir.external_data.set_base_dir(out.graph, model.base_dir)
    return out


def _external_dir(model: ir.Model) -> str:
    """The one directory the model's external tensors are relative to ("." if none)."""
    dirs = {os.path.abspath(v.const_value.base_dir)
            for graph in model.graphs() for v in graph.initializers.values()
            if isinstance(v.const_value, ir.ExternalTensor)}
    if len(dirs) > 1:
        # a LoadedModel has one base directory; ir.save the model once to gather its data
        raise ValueError(f"the model's external data lies in several directories ({', '.join(sorted(dirs))}); "
                         "save it with ir.save(model, path, external_data=...) first")
    return dirs.pop() if dirs else "."
