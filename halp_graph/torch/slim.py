"""Slim an nn.Module in place by a pruning plan, so training can go on.

Every parameter and buffer that is a member of a planned group is cut along its axis
(conv and linear weights on both axes, biases, BatchNorm scale/shift/statistics, a PReLU
slope, a layer-scale parameter...). Grouped convs get their weight cut per block. The
modules' size attributes (in_channels, groups, num_features, normalized_shape...) are
updated to match, so the module still prints, exports and re-traces correctly.

Cut parameters are new `nn.Parameter` objects (autograd caches a leaf's shape, so a
parameter cannot change shape in place and keep training). Pass the optimizer to have
its parameter groups point at the new parameters and its per-parameter state (momentum,
Adam's moments) cut the same way; the alternative is to build a fresh optimizer, which
forgets the momentum. `SlimResult.replaced` maps old parameters to new ones for anything
else that holds them (an EMA copy). A DistributedDataParallel wrapper must be rebuilt
after slimming: its gradient buckets were sized for the dense parameters.

Emptying a group (removing a whole branch) is left to the ONNX rewrite, which folds the
branch's constant output; here every planned group keeps at least one channel.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from halp_graph.errors import PlanError
from halp_graph.graph.axes import AxisKey
from halp_graph.plan import PruningPlan, element_masks

from .module_groups import ModuleGroups, grouped_conv_inputs

Slicer = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class SlimResult:
    plan: PruningPlan
    shapes: dict[str, tuple[tuple, tuple]] = field(default_factory=dict)  # qualname: (before, after)
    replaced: dict[nn.Parameter, nn.Parameter] = field(default_factory=dict)  # old: new

    @property
    def changed(self) -> bool:
        return bool(self.shapes)


def slim_module(groups: ModuleGroups, plan: PruningPlan,
                optimizer: torch.optim.Optimizer | None = None) -> SlimResult:
    """Remove the channels `plan` does not keep from `groups.module`, in place."""
    plan.validate(groups.groups)
    for gid, idx in plan.keep.items():
        if len(idx) == 0:
            raise PlanError(f"group {gid}: emptying a group removes a branch, which only the ONNX "
                            f"rewrite can fold; keep at least one channel to slim the nn.Module")
    masks = element_masks(plan, groups.groups)
    slicers = _attribute_slicers(groups, masks)
    model = groups.module
    result = SlimResult(plan)
    owners = set()
    for (module_name, attr), slicer in slicers.items():
        owner = model.get_submodule(module_name) if module_name else model
        if parametrize.is_parametrized(owner, attr):
            raise PlanError(f"{module_name}.{attr} is parametrized (masked by a pruner?); remove "
                            f"the parametrization before slimming")
        before = tuple(getattr(owner, attr).shape)
        _apply(owner, attr, slicer, optimizer, result.replaced)
        result.shapes[f"{module_name}.{attr}" if module_name else attr] = (before, tuple(getattr(owner, attr).shape))
        owners.add(module_name)
    for module_name in owners:
        _update_sizes(model.get_submodule(module_name) if module_name else model)
    return result


def _attribute_slicers(groups: ModuleGroups, masks: dict[AxisKey, np.ndarray]) -> dict[tuple[str, str], Slicer]:
    capture = groups.capture
    per_axis: dict[tuple[str, str], dict[int, np.ndarray]] = defaultdict(dict)
    grouped: dict[tuple[str, str], tuple[int, np.ndarray | None, np.ndarray]] = {}
    for node, g, ref, in_mask in grouped_conv_inputs(groups, masks):
        out_mask = masks.get(AxisKey(node.inputs[1], 0, f"{node.name}#1"))
        grouped[(ref.module, ref.name)] = (g, out_mask, in_mask)
    for key, mask in masks.items():
        if key.use is None:
            continue
        ref = capture.params.get(key.tensor)
        if ref is None:
            continue
        axis = ref.param_axis(key.axis)
        if axis is None:
            continue
        kept = np.nonzero(mask)[0]
        slot = per_axis[(ref.module, ref.name)]
        if axis in slot and not np.array_equal(slot[axis], kept):
            raise PlanError(f"{ref.qualname} would be cut two different ways along axis {axis}")
        slot[axis] = kept
    slicers: dict[tuple[str, str], Slicer] = {}
    for attr, axes in per_axis.items():
        if attr not in grouped:
            slicers[attr] = _index_slicer(axes)
    for attr, (g, out_mask, in_mask) in grouped.items():
        slicers[attr] = _grouped_conv_slicer(g, out_mask, in_mask)
    return slicers


def _index_slicer(axes: dict[int, np.ndarray]) -> Slicer:
    def cut(t: torch.Tensor) -> torch.Tensor:
        for axis, kept in axes.items():
            t = t.index_select(axis, torch.as_tensor(kept, dtype=torch.long, device=t.device))
        return t.contiguous()

    return cut


def _grouped_conv_slicer(g: int, out_mask: np.ndarray | None, in_mask: np.ndarray) -> Slicer:
    """Block j of a grouped conv's weight keeps its kept output rows and, on axis 1, the
    kept input channels of block j (every block keeps the same count)."""
    per_in = len(in_mask) // g

    def cut(t: torch.Tensor) -> torch.Tensor:
        rows = t.shape[0] // g
        blocks = []
        for j in range(g):
            rows_j = np.arange(j * rows, (j + 1) * rows)
            if out_mask is not None:
                rows_j = rows_j[out_mask[j * rows:(j + 1) * rows]]
            cols_j = np.nonzero(in_mask[j * per_in:(j + 1) * per_in])[0]
            block = t.index_select(0, torch.as_tensor(rows_j, device=t.device))
            blocks.append(block.index_select(1, torch.as_tensor(cols_j, device=t.device)))
        return torch.cat(blocks, 0).contiguous()

    return cut


def _apply(owner: nn.Module, attr: str, cut: Slicer, optimizer, replaced: dict) -> None:
    value = getattr(owner, attr)
    with torch.no_grad():
        if not isinstance(value, nn.Parameter):
            owner._buffers[attr] = cut(value)
            return
        new = nn.Parameter(cut(value.detach()), requires_grad=value.requires_grad)
        if value.grad is not None:
            new.grad = cut(value.grad)
        setattr(owner, attr, new)
        replaced[value] = new
        if optimizer is not None:
            _move_optimizer_state(optimizer, value, new, cut)


def _move_optimizer_state(optimizer: torch.optim.Optimizer, old: nn.Parameter, new: nn.Parameter,
                          cut: Slicer) -> None:
    for group in optimizer.param_groups:
        group["params"] = [new if p is old else p for p in group["params"]]
    state = optimizer.state.pop(old, None)
    if state:
        optimizer.state[new] = {k: cut(v) if isinstance(v, torch.Tensor) and v.shape == old.shape else v
                                for k, v in state.items()}


def _update_sizes(m: nn.Module) -> None:
    """Bring a module's size attributes in line with its (sliced) tensors."""
    if isinstance(m, nn.modules.conv._ConvNd):
        w = m.weight
        if isinstance(m, nn.modules.conv._ConvTransposeNd):
            m.in_channels, m.out_channels = w.shape[0], w.shape[1] * m.groups
        elif m.groups > 1 and m.groups == m.in_channels:  # depthwise: one group per input channel
            mult = m.out_channels // m.in_channels
            m.out_channels = w.shape[0]
            m.in_channels = m.groups = w.shape[0] // mult
        else:
            m.in_channels, m.out_channels = w.shape[1] * m.groups, w.shape[0]
    elif isinstance(m, nn.Linear):
        m.out_features, m.in_features = m.weight.shape
    elif isinstance(m, nn.modules.batchnorm._NormBase):
        ref = m.weight if m.weight is not None else m.running_mean
        if ref is not None:
            m.num_features = ref.shape[0]
    elif isinstance(m, nn.LayerNorm) and m.weight is not None:
        m.normalized_shape = tuple(m.weight.shape)
    elif isinstance(m, nn.GroupNorm) and m.weight is not None:
        m.num_channels = m.weight.shape[0]
    elif isinstance(m, nn.PReLU):
        m.num_parameters = m.weight.numel()
