"""LatencyPrunePass: the whole prune flow as one pass for pass managers.

    from halp_graph.passes import LatencyPrunePass
    result = LatencyPrunePass(target="cpu", budget=0.5)(model)   # PassResult
    result.model, result.info["report"]

It requires a goal that makes sense (a budget in (0, 1] or a positive latency) and a
target that exists, before touching the model; its result passes onnx.checker (full
check), as every rewrite does.
"""

from __future__ import annotations

import onnx

from halp_graph.graph.capture_onnx import LoadedModel
from halp_graph.onnx_io import check_full

from .base import Pass, PassResult, as_loaded


class LatencyPrunePass(Pass):
    in_place = False

    def __init__(self, target="cpu", budget: float | None = None, **options):
        self.target = target
        self.budget = budget
        self.options = options

    def requires(self, model: LoadedModel) -> None:
        from halp_graph.latency import get_target
        from halp_graph.pruning import check_goal
        check_goal(self.budget, self.options.get("latency_ms"))
        if isinstance(self.target, str):
            self.target = get_target(self.target)

    def call(self, model: LoadedModel) -> PassResult:
        from halp_graph.pruning import prune
        result = prune(model, self.target, self.budget, **self.options)
        info = {"report": result.report, "plan": result.plan}
        if result.model is None:
            return PassResult(model, False, info)
        return PassResult(result.model, result.plan is not None and bool(result.plan.keep), info)

    def ensures(self, model: LoadedModel) -> None:
        check_full(model)


def latency_prune(model: LoadedModel | onnx.ModelProto, target="cpu", budget: float | None = None,
                  **options) -> LoadedModel:
    return LatencyPrunePass(target, budget, **options)(as_loaded(model)).model
