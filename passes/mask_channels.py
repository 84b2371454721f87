"""MaskChannelsPass: the reference a pruned model must match.

It multiplies every tensor that carries a planned group's channels (after conv, after BN,
after the activation, through concat and flatten) by the plan's 0/1 mask. Removed channels
are then exactly zero wherever they are read, which is what a correct rewrite computes
with those channels gone.

    MaskChannelsPass(plan)(ir_model).model              # onnx-ir: ir.Model in and out
    mask_channels(loaded_or_proto, plan, groups)        # LoadedModel in and out
"""

from __future__ import annotations

import onnx
from onnx import helper

from halp_graph.graph import GroupSet
from halp_graph.graph.capture_onnx import LoadedModel, as_loaded
from halp_graph.plan import PruningPlan, element_masks

from .base import RewritePass
from .bound_groups import groups_for
from .editor import ModelEditor


class MaskChannelsPass(RewritePass):
    """Insert the plan's channel masks (functional; `groups` as for PruneChannelsPass)."""

    def __init__(self, plan: PruningPlan, groups: GroupSet | None = None):
        self.plan = plan
        self.groups = groups

    def rewrite(self, model: LoadedModel) -> tuple[LoadedModel | None, dict]:
        groups = groups_for(model, self.groups)
        self.plan.validate(groups)
        graph = groups.graph
        masks = {k: m for k, m in element_masks(self.plan, groups).items() if not k.use}
        ed = ModelEditor(model, graph)
        for key in sorted(masks):
            users = graph.users(key.tensor)
            if not users:
                continue
            first = min(n.index for n, _ in users)
            shape = [1] * len(graph.shape(key.tensor))
            shape[key.axis] = len(masks[key])
            dtype = helper.tensor_dtype_to_np_dtype(graph.tensor(key.tensor).dtype or 1)
            mask = ed.add_const(masks[key].astype(dtype).reshape(shape), f"{key.tensor}_mask")
            current = _current_name(ed, users[0])
            masked = ed.fresh(f"{key.tensor}_masked")
            ed.insert_before(first, "Mul", [current, mask], [masked])
            for node, slot in users:
                ed.set_input(node.index, slot, masked)
        info = {"masked_tensors": len(masks)}
        return (ed.finish() if masks else None), info


def _current_name(ed: ModelEditor, use) -> str:
    node, slot = use
    return ed.node(node.index).input[slot]


def mask_channels(model: LoadedModel | onnx.ModelProto, plan: PruningPlan,
                  groups: GroupSet | None = None) -> LoadedModel:
    """The model with every planned group's members multiplied by the plan's 0/1 masks."""
    loaded = as_loaded(model)
    out, _ = MaskChannelsPass(plan, groups).rewrite(loaded)
    return loaded if out is None else out
