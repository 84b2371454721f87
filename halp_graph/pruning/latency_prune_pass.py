"""LatencyPrunePass: the whole prune flow (`halp_graph.pruning.prune`) as one onnx-ir pass.

    import onnx_ir as ir
    from halp_graph.pruning import LatencyPrunePass
    result = LatencyPrunePass(target="cpu", budget=0.5)(ir.load("model.onnx"))
    result.model, result.modified       # not modified when no plan fits the goal

It requires a goal that makes sense (a budget in (0, 1], a positive latency or a minimum
agreement) and a target that exists before touching the model; its result passes
onnx.checker (full check), as every rewrite does. An onnx-ir PassResult has no room for
the prune report: `halp_graph.prune` returns it. `latency_prune` is the LoadedModel /
ModelProto variant, as the snake_case functions of halp_graph.passes are.
"""

from __future__ import annotations

import onnx
import onnx_ir as ir

from ..graph.capture_onnx import LoadedModel, as_loaded
from ..latency import get_target
from ..onnx_io import check_full
from ..passes.base import RewritePass
from .api import check_goal, prune


class LatencyPrunePass(RewritePass):
    """Prune to a latency goal on a target (functional; `options` as for prune)."""

    def __init__(self, target="cpu", budget: float | None = None, **options):
        self.target = target
        self.budget = budget
        self.options = options

    def requires(self, model: ir.Model) -> None:
        super().requires(model)
        check_goal(self.budget, self.options.get("latency_ms"), self.options.get("min_agreement"))
        if isinstance(self.target, str):
            get_target(self.target)  # an unknown target fails here, before any work

    def rewrite(self, model: LoadedModel) -> tuple[LoadedModel | None, dict]:
        result = prune(model, self.target, self.budget, **self.options)
        info = {"report": result.report, "plan": result.plan}
        if result.model is None or result.model is model:
            return None, info
        check_full(result.model)
        return result.model, info


def latency_prune(model: LoadedModel | onnx.ModelProto, target="cpu", budget: float | None = None,
                  **options) -> LoadedModel:
    """The pruned model (the input itself when no plan fits the goal)."""
    loaded = as_loaded(model)
    out, _ = LatencyPrunePass(target, budget, **options).rewrite(loaded)
    return loaded if out is None else out
