"""Channel masks multiplied into a torch twin's tensors, group by group.

A group's channels live in every tensor that is one of its activation members; a mask of
one value per channel (per sample, or shared by the batch) multiplies each of those
tensors along the member's axis. A mask at 1 changes nothing; a mask at 0 computes what
the plan that removes the channel computes (the equivalence invariant). `base` masks,
fixed 0/1 per channel, hold channels an earlier step removed at zero under whatever mask
is being probed (the iterative schedule scores a partly pruned model this way). Gradients with
respect to the masks are the channels' first-order effect on whatever the outputs feed.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from ..graph.groups import Group, GroupSet


class ChannelMasks:
    """`hook` multiplies `masks[g]` into every activation member of group g. A mask is a
    tensor shaped [channels] (shared by the batch) or [batch, channels] (one per sample:
    applied only to tensors whose first dimension is the batch; `per_sample_ok` tells
    whether every member of the group had one)."""

    def __init__(self, groups: GroupSet, chosen: list[Group]):
        self.groups = {g.id: g for g in chosen}
        self.by_tensor: dict[str, list[tuple[str, int, int, int]]] = defaultdict(list)
        for g in chosen:
            for m in g.activation_members():
                self.by_tensor[m.tensor].append((g.id, m.axis, m.elem_start, m.block))
        self.masks: dict[str, torch.Tensor] = {}
        self.base: dict[str, torch.Tensor] = {}
        self.per_sample_ok: dict[str, bool] = {g.id: True for g in chosen}

    def hook(self, name: str, value: torch.Tensor) -> torch.Tensor:
        for gid, axis, start, block in self.by_tensor.get(name, ()):
            mask, base = self.masks.get(gid), self.base.get(gid)
            if mask is None and base is None:
                continue
            mask = base if mask is None else (mask if base is None else mask * base)
            value = value * self._expand(gid, mask, value, axis, start, block)
        return value

    def set_removed(self, removed: dict[str, "np.ndarray"]) -> None:
        """Hold the given channels (group id -> indices) at zero from now on."""
        self.base = {}
        for gid, index in removed.items():
            if gid in self.groups and len(index):
                mask = torch.ones(self.groups[gid].size)
                mask[torch.as_tensor(np.asarray(index, dtype=np.int64))] = 0
                self.base[gid] = mask

    def _expand(self, gid, mask, value, axis, start, block) -> torch.Tensor:
        axis = axis % value.dim()
        length = value.shape[axis]
        size = self.groups[gid].size
        per_sample = mask.dim() == 2
        if per_sample and (axis == 0 or value.shape[0] != mask.shape[0]):
            self.per_sample_ok[gid] = False
            mask = mask.mean(dim=0)  # only reached for shapes the caller must not use per sample
            per_sample = False
        channel = mask.repeat_interleave(block, dim=-1) if block > 1 else mask
        lead = channel.shape[:-1]
        parts = []
        if start:
            parts.append(torch.ones(*lead, start, dtype=channel.dtype, device=channel.device))
        parts.append(channel)
        rest = length - start - size * block
        if rest:
            parts.append(torch.ones(*lead, rest, dtype=channel.dtype, device=channel.device))
        full = torch.cat(parts, dim=-1) if len(parts) > 1 else channel
        shape = [1] * value.dim()
        shape[axis] = length
        if per_sample:
            shape[0] = value.shape[0]
        return full.reshape(shape).to(device=value.device, dtype=value.dtype)
