"""Coupled channel groups of an nn.Module, with the way back to its parameters.

`module_groups(model, example_inputs)` captures the module with torch.fx, runs the same
grouping as for ONNX, and then adds the constraints only a live module has:

* channels whose size the Python code spells out (a literal in `view`, split sizes,
  slice bounds, a functional conv's `groups=`) freeze: the slimmed module could not
  follow them;
* a parameter used by several ops (a module called twice) freezes the groups it is a
  member of: one tensor cannot be sliced two ways.

`ModuleGroups.param_members(group)` lists a group's members that are module parameters
or buffers, each with the module attribute and the axis of that attribute.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

import torch

from ..graph.axes import AxisKey
from ..graph.grouping import find_groups
from ..graph.groups import Group, GroupSet, Member
from .capture_fx import capture_fx
from .fx_graph import FxCapture, ParamRef


@dataclass(frozen=True)
class ParamMember:
    """A group member that lives in a module attribute."""

    member: Member
    ref: ParamRef
    axis: int  # axis of the module attribute that carries the group's channels
    op_type: str  # the op using it (Conv, BatchNormalization, ...)
    slot: int  # its input slot in that op (BatchNormalization: 1 scale, 2 bias)


class ModuleGroups:
    """The groups of one traced module; group ids are those of `groups` (g0, g1, ...)."""

    def __init__(self, module: torch.nn.Module, capture: FxCapture, groups: GroupSet):
        self.module = module
        self.capture = capture
        self.groups = groups

    def __iter__(self):
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, gid: str) -> Group:
        return self.groups[gid]

    def prunable(self) -> list[Group]:
        return self.groups.prunable()

    def param_members(self, group: Group | str) -> list[ParamMember]:
        group = self.groups[group] if isinstance(group, str) else group
        graph = self.groups.graph
        out = []
        for m in group.members:
            ref = self.capture.params.get(m.tensor)
            if ref is None or not m.is_param:
                continue
            axis = ref.param_axis(m.axis)
            if axis is None:
                continue
            node = graph.nodes_by_name[m.node]
            out.append(ParamMember(m, ref, axis, node.op_type, m.slot))
        return out

    def attribute(self, ref: ParamRef) -> torch.Tensor:
        owner = self.module.get_submodule(ref.module) if ref.module else self.module
        return getattr(owner, ref.name)


def module_groups(model: torch.nn.Module, example_inputs, leaf_modules: Iterable = ()) -> ModuleGroups:
    """Trace `model` (unwrapping DistributedDataParallel) and group its channels."""
    model = unwrap(model)
    capture = capture_fx(model, example_inputs, leaf_modules)
    groups = find_groups(capture.graph)
    _freeze_fixed_axes(capture, groups)
    _freeze_shared_params(capture, groups)
    return ModuleGroups(model, capture, groups)


def grouped_conv_inputs(groups: ModuleGroups, masks: dict):
    """(conv node, groups, weight's ParamRef, input mask) for every grouped (not depthwise)
    conv whose input channels a plan cuts: the weight's axis 1 is then cut per block."""
    graph = groups.groups.graph
    for node in graph.nodes:
        g = node.attr("group", 1)
        if node.op_type != "Conv" or g == 1 or graph.shape(node.inputs[0])[1] == g:
            continue
        in_mask = masks.get(AxisKey(node.inputs[0], 1))
        ref = groups.capture.params.get(node.inputs[1])
        if in_mask is not None and ref is not None:
            yield node, g, ref, in_mask


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DistributedDataParallel / DataParallel wrappers."""
    while isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        model = model.module
    return model


def _freeze_fixed_axes(capture: FxCapture, groups: GroupSet) -> None:
    reasons = defaultdict(list)
    for tensor, axis, why in capture.fixed_axes:
        reasons[(tensor, axis)].append(why)
    if not reasons:
        return
    for group in groups:
        for m in group.members:
            for why in reasons.get((m.tensor, m.axis), ()):
                if why not in group.reasons:
                    group.reasons.append(why)


def _freeze_shared_params(capture: FxCapture, groups: GroupSet) -> None:
    uses: dict[tuple[str, str], set[str]] = defaultdict(set)
    for node in capture.graph.nodes:
        for name in node.inputs:
            ref = capture.params.get(name)
            if ref is not None:
                uses[(ref.module, ref.name)].add(node.name)
    shared = {key for key, nodes in uses.items() if len(nodes) > 1}
    if not shared:
        return
    for group in groups:
        for m in group.members:
            ref = capture.params.get(m.tensor)
            if ref is not None and (ref.module, ref.name) in shared:
                why = (f"parameter {ref.qualname} is used by {len(uses[(ref.module, ref.name)])} ops "
                       f"(a module called more than once): it cannot be sliced per use")
                if why not in group.reasons:
                    group.reasons.append(why)
