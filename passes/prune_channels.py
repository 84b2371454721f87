"""PruneChannelsPass: apply a pruning plan to an ONNX model, producing a slimmer model.

Every constant member of a planned group is sliced along its axis (on a private copy when
the constant is shared), ops whose attributes spell out channel counts are edited, emptied
branches are removed with their constant contribution folded, and the result is checked
with onnx.checker (full check). The result computes what the original computes with every
removed channel masked to zero: `halp_graph.testing.assert_equivalent` proves it.

    PruneChannelsPass(plan)(ir_model).model             # onnx-ir: ir.Model in and out
    prune_channels(loaded_or_proto, plan, groups)       # LoadedModel in and out
    prune_channels_with_info(...)                       # (LoadedModel, what was removed)
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx

from halp_graph.graph import GroupSet
from halp_graph.graph.capture_onnx import LoadedModel, _skeleton, as_loaded
from halp_graph.onnx_io import check_full
from halp_graph.plan import PruningPlan, element_masks

from .base import RewritePass
from .bound_groups import groups_for
from .channel_edits import edit_node
from .editor import ModelEditor
from .empty_branches import remove_empty_branches


class PruneChannelsPass(RewritePass):
    """Remove the channels a plan does not keep (functional: the input is not changed).

    `groups`, optional, saves the analysis when the caller already has the model's groups;
    they are checked against every model the pass runs on (bound_groups.py)."""

    def __init__(self, plan: PruningPlan, groups: GroupSet | None = None, check: bool = True):
        self.plan = plan
        self.groups = groups
        self.check = check

    def rewrite(self, model: LoadedModel) -> tuple[LoadedModel | None, dict]:
        return _rewrite(model, groups_for(model, self.groups), self.plan, self.check)


def _rewrite(model: LoadedModel, groups: GroupSet, plan: PruningPlan, check: bool,
             refresh: bool = True) -> tuple[LoadedModel | None, dict]:
    """The rewrite of `model` by `plan` with `groups` already bound to its weights."""
    plan.validate(groups)
    kept = plan.kept_counts(groups)
    info = {"groups_pruned": sum(1 for g in groups if kept[g.id] < g.size),
            "channels_removed": sum(g.size - kept[g.id] for g in groups),
            "removed_nodes": 0, "folded_layers": 0}
    if not plan.removes_anything(groups):
        return None, info
    graph = groups.graph
    masks = element_masks(plan, groups)
    ed = ModelEditor(model, graph)
    ed.masks = {k: m for k, m in masks.items() if not k.use}

    by_use: dict[str, dict[int, np.ndarray]] = defaultdict(dict)
    for key, mask in masks.items():
        if key.use:
            by_use[key.use][key.axis] = mask
    # A constant that stands where an activation would (a positional encoding the
    # exporter folded into an initializer) carries the group's channels like one:
    # every read of it is sliced.
    for key, mask in masks.items():
        if not key.use and graph.is_constant(key.tensor) and key.tensor not in graph.inputs:
            for node, slot in graph.users(key.tensor):
                by_use[f"{node.name}#{slot}"][key.axis] = mask
    for use, axes in by_use.items():
        node_name, slot = use.rsplit("#", 1)
        index = graph.nodes_by_name[node_name].index
        value = ed.param(index, int(slot))
        for axis, mask in axes.items():
            value = np.compress(mask, value, axis=axis)
        ed.set_param(index, int(slot), value)

    touched = set()
    for key in ed.masks:
        if key.tensor in graph.producer:
            touched.add(graph.producer[key.tensor].index)
        touched.update(n.index for n, _ in graph.users(key.tensor))
    for index in sorted(touched):
        edit_node(ed, graph.nodes[index], ed.masks)
    info.update(remove_empty_branches(ed, ed.masks))
    result = ed.finish()
    if refresh:
        _refresh_value_info(result.proto)
    if check:
        check_full(result)
    return result, info


def _refresh_value_info(proto: onnx.ModelProto) -> None:
    try:
        inferred = onnx.shape_inference.infer_shapes(_skeleton(proto))
    except Exception:
        return  # the full check reports a model that does not infer
    outputs = {o.name for o in proto.graph.output}
    inits = {t.name for t in proto.graph.initializer}
    del proto.graph.value_info[:]
    proto.graph.value_info.extend(v for v in inferred.graph.value_info
                                  if v.name not in outputs and v.name not in inits)


def prune_channels_with_info(model: LoadedModel | onnx.ModelProto, plan: PruningPlan,
                             groups: GroupSet | None = None, check: bool = True) -> tuple[LoadedModel, dict]:
    """The slimmer model (the input itself when the plan removes nothing) and what was
    removed: groups_pruned, channels_removed, removed_nodes, folded_layers."""
    loaded = as_loaded(model)
    out, info = PruneChannelsPass(plan, groups, check).rewrite(loaded)
    return (loaded if out is None else out), info


def prune_channels(model: LoadedModel | onnx.ModelProto, plan: PruningPlan,
                   groups: GroupSet | None = None, check: bool = True) -> LoadedModel:
    """Apply `plan` and return the slimmer model (checked with onnx.checker)."""
    return prune_channels_with_info(model, plan, groups, check)[0]


def pruned_structure(model: LoadedModel | onnx.ModelProto, plan: PruningPlan,
                     groups: GroupSet | None = None) -> onnx.ModelProto:
    """The graph `plan` leaves, for callers that ask only what a plan removes: the nodes
    and initializer names prune_channels writes, with every initializer it does not
    slice left an empty stand-in (name, type and dims), so no weight is copied. Not a
    runnable model, and not checked."""
    loaded = as_loaded(model)
    bound = groups_for(loaded, groups)
    shell = LoadedModel(_weightless(loaded.proto), loaded.base_dir, loaded.path)
    result, _ = _rewrite(shell, bound, plan, check=False, refresh=False)
    return (result or shell).proto


def _weightless(proto: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.ir_version = proto.ir_version
    out.opset_import.extend(proto.opset_import)
    g, src = out.graph, proto.graph
    g.name = src.name
    g.node.extend(src.node)
    g.input.extend(src.input)
    g.output.extend(src.output)
    for init in src.initializer:
        stand_in = g.initializer.add()
        stand_in.name, stand_in.data_type = init.name, init.data_type
        stand_in.dims.extend(init.dims)
    return out
