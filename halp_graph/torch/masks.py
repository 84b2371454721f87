"""Hard channel masks on module parameters while the pruning schedule runs (HALP).

Every trainable parameter member of a prunable group is parametrized
(`torch.nn.utils.parametrize`) as `w * mask`, the mask holding 0 where the current plan
removes a channel: producer rows, biases, BatchNorm scale and shift, and the consumer
columns. Masking the consumers too makes the masked network compute exactly what the
slimmed one will, whatever the activation does to a zeroed channel (sigmoid(0) = 0.5).
The gradient goes through the mask, so removed channels get no updates and score zero
saliency: once removed, a channel stays removed. (Soft masks that let channels come back
live in soft_masks.py.)

The parametrized Parameter objects are the originals, so an optimizer built before or
after masking keeps working; the parameter names gain `parametrizations.<name>.original`
until `remove()`.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from halp_graph.plan import PruningPlan, element_masks

from .module_groups import ModuleGroups, grouped_conv_inputs
from .taylor import Attr, trainable_parameter


class ChannelMask(nn.Module):
    """A parametrization: the weight times a 0/1 mask."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask


class ChannelMasks:
    def __init__(self, groups: ModuleGroups, group_ids: list[str] | None = None):
        self.groups = groups
        ids = group_ids if group_ids is not None else [g.id for g in groups.prunable()]
        self.attrs: list[Attr] = []
        for gid in ids:
            for pm in groups.param_members(gid):
                attr = (pm.ref.module, pm.ref.name)
                if attr not in self.attrs and trainable_parameter(groups, attr) is not None:
                    self.attrs.append(attr)
        self._masks: dict[Attr, ChannelMask] = {}

    def _owner(self, attr: Attr) -> nn.Module:
        return self.groups.module.get_submodule(attr[0]) if attr[0] else self.groups.module

    def install(self) -> None:
        """Parametrize every maskable parameter with an all-ones mask."""
        for attr in self.attrs:
            if attr in self._masks:
                continue
            owner = self._owner(attr)
            p = getattr(owner, attr[1])
            mask = ChannelMask(torch.ones_like(p, requires_grad=False))
            parametrize.register_parametrization(owner, attr[1], mask)
            self._masks[attr] = mask

    def apply(self, plan: PruningPlan) -> None:
        """Set every mask to the plan (channels it does not keep become 0)."""
        plan.validate(self.groups.groups)
        self.install()
        wanted = _parameter_masks(self.groups, plan)
        with torch.no_grad():
            for attr, mask in self._masks.items():
                mask.mask.fill_(1.0)
                for build in wanted.get(attr, ()):
                    mask.mask.mul_(build(mask.mask).to(mask.mask.dtype))

    def remove(self) -> None:
        """Drop the parametrizations, leaving the unmasked originals in place."""
        for attr in self._masks:
            parametrize.remove_parametrizations(self._owner(attr), attr[1], leave_parametrized=False)
        self._masks = {}

    def kept_fraction(self) -> float:
        total = sum(m.mask.numel() for m in self._masks.values())
        return float(sum(m.mask.sum() for m in self._masks.values()) / total) if total else 1.0


def _parameter_masks(groups: ModuleGroups, plan: PruningPlan) -> dict[Attr, list]:
    """{attribute: [function(template) -> 0/1 tensor shaped like the parameter]}."""
    capture = groups.capture
    out: dict[Attr, list] = defaultdict(list)
    masks = element_masks(plan, groups.groups)
    for key, mask in masks.items():
        ref = capture.params.get(key.tensor) if key.use else None
        if ref is None or ref.param_axis(key.axis) is None:
            continue
        out[(ref.module, ref.name)].append(_axis_mask(ref.param_axis(key.axis), mask))
    for _, g, ref, in_mask in grouped_conv_inputs(groups, masks):
        out[(ref.module, ref.name)].append(_grouped_input_mask(g, in_mask))
    return out


def _axis_mask(axis: int, mask: np.ndarray):
    def build(template: torch.Tensor) -> torch.Tensor:
        shape = [1] * template.dim()
        shape[axis] = len(mask)
        return torch.as_tensor(mask, device=template.device).reshape(shape)

    return build


def _grouped_input_mask(g: int, in_mask: np.ndarray):
    per = len(in_mask) // g

    def build(template: torch.Tensor) -> torch.Tensor:
        rows = template.shape[0] // g
        m = np.repeat(in_mask.reshape(g, per), rows, axis=0)  # [out, in/g]
        shape = list(m.shape) + [1] * (template.dim() - 2)
        return torch.as_tensor(m, device=template.device).reshape(shape)

    return build
