"""RewritePass: an onnx-ir FunctionalPass whose work is a rewrite of the model's proto.

Subclasses implement `rewrite(LoadedModel) -> (LoadedModel | None, info)`, the proto-level
work (None: nothing to change); `call` converts at the boundary (adapter.py), so the pass
takes and returns `ir.Model` inside `onnx_ir.passes.PassManager`. Nothing is kept between
calls: a pass instance holds only its configuration and can be reused on any model.
The plan's validation (PlanError) and the result's onnx.checker full check run inside
`rewrite`, not in `requires`/`ensures`: both need the groups found during the call, and
nothing may be carried from one method to the next.
"""

from __future__ import annotations

import abc

import onnx_ir as ir

from halp_graph.graph.capture_onnx import LoadedModel

from .adapter import from_loaded, to_loaded


class RewritePass(ir.passes.FunctionalPass):
    """A functional onnx-ir pass: the input model is never changed, the result is new."""

    def requires(self, model: ir.Model) -> None:
        if not isinstance(model, ir.Model):
            raise ir.passes.PreconditionError(
                f"{type(self).__name__} takes an onnx_ir.Model, not {type(model).__name__}: "
                "convert with halp_graph.passes.as_ir_model(model), or use the snake_case function")

    def call(self, model: ir.Model) -> ir.passes.PassResult:
        out, _ = self.rewrite(to_loaded(model))
        if out is None:  # a FunctionalPass must still return a new model object
            return ir.passes.PassResult(model.clone(), modified=False)
        return ir.passes.PassResult(from_loaded(out), modified=True)

    @abc.abstractmethod
    def rewrite(self, model: LoadedModel) -> tuple[LoadedModel | None, dict]:
        """The rewritten model (None if nothing changes) and what the rewrite did."""
