"""CleanupPass: remove nodes whose outputs nobody reads and initializers nobody uses."""

from __future__ import annotations

import onnx

from halp_graph.graph.capture_onnx import LoadedModel

from .base import Pass, PassResult, as_loaded
from .editor import remove_dead_code


class CleanupPass(Pass):
    in_place = True

    def call(self, model: LoadedModel) -> PassResult:
        removed = remove_dead_code(model.proto)
        return PassResult(model, removed > 0, {"removed_nodes": removed})


def cleanup(model: LoadedModel | onnx.ModelProto) -> LoadedModel:
    return CleanupPass()(as_loaded(model)).model
