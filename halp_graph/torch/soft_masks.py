"""Soft channel masks with a straight-through estimator (SMCP), on the inputs of layers.

Layers (Conv, Linear) are the only ops that mix channels, so zeroing a removed channel
where every layer reads it computes exactly what the slimmed network computes. SMCP
wants more than that: a removed channel must keep learning so that a later pruning step
can bring it back. The mask therefore sits on each layer's input as

    x - (x * (1 - mask)).detach()        forward: x * mask     backward: identity

so the forward pass is pruned while the gradient reaches the removed channel's producer
(its conv, its BatchNorm) as if it were still there. Masking parameters instead cannot do
this: a zeroed BatchNorm scale or a zeroed consumer column makes the gradient zero too.

Forward pre-hooks do the masking, so every layer reading a prunable group must be a
module (nn.Conv2d, nn.Linear...); a functional layer (F.conv2d) is refused with its name.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from halp_graph.plan import PruningPlan, element_masks

from .module_groups import ModuleGroups


class StraightThroughMasks:
    def __init__(self, groups: ModuleGroups, group_ids: list[str] | None = None):
        self.groups = groups
        ids = set(group_ids if group_ids is not None else (g.id for g in groups.prunable()))
        self.layers = []  # (module qualname, input AxisKey, rank of the input)
        for layer in groups.groups.layers:
            if not any(s.group in ids for s in layer.in_segments):
                continue
            module = groups.capture.modules.get(layer.name)
            if module is None:
                raise ValueError(f"soft masks need layer {layer.name} to be a module call "
                                 f"(it is a torch function); use hard masks for this model")
            rank = len(groups.groups.graph.shape(layer.in_key.tensor))
            self.layers.append((module, layer.in_key, rank))
        self._masks: dict[str, torch.Tensor | None] = {}
        self._handles = []

    def install(self) -> None:
        if self._handles:
            return
        for module_name, _, _ in self.layers:
            if module_name in self._masks:
                continue
            self._masks[module_name] = None
            module = self.groups.module.get_submodule(module_name)
            self._handles.append(module.register_forward_pre_hook(self._hook(module_name)))

    def _hook(self, module_name: str):
        def hook(module: nn.Module, args):
            mask = self._masks.get(module_name)
            if mask is None:
                return None
            x = args[0]
            m = mask.to(device=x.device, dtype=x.dtype)
            return (x - (x * (1 - m)).detach(),) + tuple(args[1:])

        return hook

    def apply(self, plan: PruningPlan) -> None:
        plan.validate(self.groups.groups)
        self.install()
        masks = element_masks(plan, self.groups.groups)
        for module_name, key, rank in self.layers:
            mask = masks.get(key)
            if mask is None or mask.all():
                self._masks[module_name] = None
                continue
            shape = [1] * rank
            shape[key.axis] = len(mask)
            self._masks[module_name] = torch.as_tensor(mask.astype(np.float32)).reshape(shape)

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self._masks = {}
