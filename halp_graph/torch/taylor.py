"""Taylor saliency per group, accumulated from gradient hooks between pruning steps.

HALP's importance of channel c of a group with BatchNorm members is

    | sum over the group's BatchNorms of  gamma_c * dL/dgamma_c + beta_c * dL/dbeta_c |

the first-order estimate of the loss change when the channel's BN output is zeroed. A
group without BatchNorm (a Linear hidden layer, a conv followed by nothing) uses the
same estimate for zeroing all its parameters: | sum over every parameter member and every
element of channel c of  w * dL/dw |. Both are computed per iteration and their absolute
values averaged over the iterations since the last pruning step.

Hooks on the parameters (`Tensor.register_hook`) see each backward's gradient before it
is accumulated into `.grad`, so gradient accumulation and DDP's averaging do not distort
it. An iteration with any non-finite contribution (a mixed-precision overflow) is
skipped. With a loss scaler, contributions are divided by the scale of that iteration.
Under hard masks the hooked tensor is the unmasked original and its gradient is zero
where masked, so removed channels score 0. Under straight-through soft masks the
gradient still reaches removed channels, which is what lets SMCP bring them back.
"""

from __future__ import annotations

from collections import defaultdict

import torch
from torch.nn.utils import parametrize

from .distributed import all_reduce_sum
from .module_groups import ModuleGroups, ParamMember

Attr = tuple[str, str]  # (module qualname, attribute name)


def trainable_parameter(groups: ModuleGroups, attr: Attr) -> torch.nn.Parameter | None:
    """The Parameter behind an attribute (the unmasked original when parametrized)."""
    owner = groups.module.get_submodule(attr[0]) if attr[0] else groups.module
    if parametrize.is_parametrized(owner, attr[1]):
        p = owner.parametrizations[attr[1]].original
    else:
        p = getattr(owner, attr[1], None)
    return p if isinstance(p, torch.nn.Parameter) and p.requires_grad else None


def saliency_members(groups: ModuleGroups, gid: str) -> list[ParamMember]:
    """BatchNorm scale and shift members when the group has any, else every trainable
    parameter member."""
    members = [pm for pm in groups.param_members(gid)
               if trainable_parameter(groups, (pm.ref.module, pm.ref.name)) is not None]
    bn = [pm for pm in members if pm.op_type == "BatchNormalization" and pm.slot in (1, 2)]
    return bn or members


class TaylorSaliency:
    def __init__(self, groups: ModuleGroups, group_ids: list[str] | None = None):
        self.groups = groups
        self.group_ids = group_ids if group_ids is not None else [g.id for g in groups.prunable()]
        self.members = {gid: saliency_members(groups, gid) for gid in self.group_ids}
        self.axes: dict[Attr, set[int]] = defaultdict(set)
        for members in self.members.values():
            for pm in members:
                self.axes[(pm.ref.module, pm.ref.name)].add(pm.axis)
        self._pending: dict[tuple[Attr, int], torch.Tensor] = {}
        self._sums: dict[str, torch.Tensor] = {}
        self.iterations = 0  # iterations accumulated since the last reset
        self.skipped = 0  # iterations dropped for non-finite values, in total
        self._handles = []
        for attr in self.axes:
            p = trainable_parameter(groups, attr)
            self._handles.append(p.register_hook(self._hook(attr, p)))

    def _hook(self, attr: Attr, param: torch.nn.Parameter):
        axes = sorted(self.axes[attr])

        def hook(grad: torch.Tensor):
            with torch.no_grad():
                prod = param.detach().float() * grad.detach().float()
                for axis in axes:
                    dims = [d for d in range(prod.dim()) if d != axis]
                    v = prod.sum(dim=dims) if dims else prod
                    key = (attr, axis)
                    self._pending[key] = self._pending[key] + v if key in self._pending else v
            return None

        return hook

    def commit(self, loss_scale: float = 1.0) -> bool:
        """Close one iteration: fold the hooked gradients into the per-group averages.
        Returns False when the iteration was skipped (nothing hooked, or non-finite)."""
        pending, self._pending = self._pending, {}
        if not pending:
            return False
        if not all(bool(torch.isfinite(v).all()) for v in pending.values()):
            self.skipped += 1
            return False
        for gid, members in self.members.items():
            if not members:
                continue
            group = self.groups[gid]
            total = None
            for pm in members:
                v = pending.get(((pm.ref.module, pm.ref.name), pm.axis))
                if v is None:
                    continue
                m = pm.member
                per_channel = v[m.elem_start:m.elem_start + group.size * m.block]
                per_channel = per_channel.reshape(group.size, m.block).sum(1)
                total = per_channel if total is None else total + per_channel
            if total is None:
                continue
            contribution = (total / loss_scale).abs().double()
            self._sums[gid] = self._sums[gid] + contribution if gid in self._sums else contribution
        self.iterations += 1
        return True

    def scores(self, process_group=None) -> dict[str, "torch.Tensor"]:
        """Average saliency per group channel since the last reset, summed over ranks."""
        ids = list(self.group_ids)
        sizes = [self.groups[g].size for g in ids]
        device = next(iter(self._sums.values())).device if self._sums else torch.device("cpu")
        flat = torch.zeros(sum(sizes) + 1, dtype=torch.float64, device=device)
        pos = 0
        for gid, size in zip(ids, sizes):
            if gid in self._sums:
                flat[pos:pos + size] = self._sums[gid].to(device)
            pos += size
        flat[-1] = self.iterations
        flat = all_reduce_sum(flat, process_group)
        count = max(float(flat[-1]), 1.0)
        out, pos = {}, 0
        for gid, size in zip(ids, sizes):
            if self.members[gid]:
                out[gid] = (flat[pos:pos + size] / count).cpu()
            pos += size
        return out

    def reset(self) -> None:
        self._sums = {}
        self._pending = {}
        self.iterations = 0

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
