"""Graph-rewrite passes over ONNX models, importable as `halp_graph.passes`.

Every pass is an onnx-ir pass (`onnx_ir.passes.FunctionalPass`): it runs inside
`onnx_ir.passes.PassManager` beside onnx-ir's own passes, takes an `ir.Model`, returns
onnx-ir's `PassResult(model, modified)` with a new model (the input is never changed),
and keeps no state between calls, so one instance can run on many models:

    import onnx_ir as ir, onnx_ir.passes.common as common
    pm = ir.passes.PassManager([PruneChannelsPass(PruningPlan.load("plan.json")),
                                common.RemoveUnusedNodesPass()])
    result = pm(ir.load("model.onnx"))       # result.model is the slim ir.Model

An `onnx.ModelProto` or a `LoadedModel` goes in through `as_ir_model`. Underneath, each
pass rewrites the model's proto (editor.py); the snake_case function beside each class
runs that rewrite directly on a LoadedModel or ModelProto and returns a LoadedModel, as
the rest of the library does. ReconstructPass (halp_graph.passes.reconstruct) needs torch,
so it is not imported here. The end-to-end flow as a pass, LatencyPrunePass, lives in
halp_graph.pruning (it sits above the rewrite).
"""

from .adapter import as_ir_model
from .base import RewritePass
from .mask_channels import MaskChannelsPass, mask_channels
from .prune_channels import PruneChannelsPass, prune_channels, prune_channels_with_info, pruned_structure

__all__ = ["as_ir_model", "RewritePass", "MaskChannelsPass", "mask_channels", "pruned_structure",
           "PruneChannelsPass", "prune_channels", "prune_channels_with_info"]
