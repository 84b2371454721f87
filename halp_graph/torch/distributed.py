"""torch.distributed glue for the pruner: sum saliencies over ranks, share one plan.

Every rank accumulates Taylor saliency from its own gradients; at a pruning step the sums
and the counts of valid iterations are all-reduced, so every rank sees the same averages
and the deterministic solve step yields the same plan. The plan is then broadcast from
rank 0 as a channel mask, which makes identical plans a guarantee rather than a
consequence of identical floating point. Collectives run on the device the backend
needs: CUDA for nccl, CPU for gloo. Without an initialised process group these are no-ops.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist

from ..graph.groups import GroupSet
from ..plan import PruningPlan


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def comm_device(group=None) -> torch.device:
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(t: torch.Tensor, group=None) -> torch.Tensor:
    """The element-wise sum of `t` over all ranks (a copy; `t` itself is unchanged)."""
    if not is_distributed():
        return t.clone()
    buf = t.detach().to(comm_device(group), copy=True)
    dist.all_reduce(buf, op=dist.ReduceOp.SUM, group=group)
    return buf.to(t.device)


def broadcast_plan(plan: PruningPlan, groups: GroupSet, group=None) -> PruningPlan:
    """Rank 0's plan on every rank (the plan itself when not distributed)."""
    if not is_distributed():
        return plan
    ids = [g.id for g in groups.prunable()]
    mask = np.ones(sum(groups[g].size for g in ids), dtype=np.uint8)
    offset = {}
    pos = 0
    for gid in ids:
        offset[gid] = pos
        if gid in plan.keep:
            mask[pos:pos + groups[gid].size] = 0
            mask[pos + np.asarray(plan.keep[gid], dtype=np.int64)] = 1
        pos += groups[gid].size
    buf = torch.from_numpy(mask).to(comm_device(group))
    src = 0 if group is None else dist.get_global_rank(group, 0)
    dist.broadcast(buf, src=src, group=group)
    mask = buf.cpu().numpy()
    keep = {}
    for gid in ids:
        m = mask[offset[gid]:offset[gid] + groups[gid].size]
        if not m.all():
            keep[gid] = np.nonzero(m)[0].tolist()
    return PruningPlan(keep)


def broadcast_value(value: float, group=None) -> float:
    """Rank 0's `value` on every rank (the value itself when not distributed): decisions
    such as stopping or keeping a state are taken once and shared."""
    if not is_distributed():
        return value
    buf = torch.tensor([float(value)], dtype=torch.float64, device=comm_device(group))
    src = 0 if group is None else dist.get_global_rank(group, 0)
    dist.broadcast(buf, src=src, group=group)
    return float(buf.item())


class launched_group:
    """Context manager for a process launched by torchrun (WORLD_SIZE > 1 in the
    environment): joins the default process group (nccl when CUDA is available, else
    gloo; $HALP_GRAPH_DIST_BACKEND overrides) unless one is initialised already, and
    leaves it on exit. `device` is where this rank trains: cuda:LOCAL_RANK under nccl,
    else cpu. Outside torchrun it does nothing (rank 0 of 1)."""

    def __init__(self):
        self.joined = False
        self.device = "cpu"

    def __enter__(self) -> "launched_group":
        if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not is_distributed():
            backend = os.environ.get("HALP_GRAPH_DIST_BACKEND") or (
                "nccl" if torch.cuda.is_available() else "gloo")
            if backend == "nccl":
                local = int(os.environ.get("LOCAL_RANK", "0"))
                torch.cuda.set_device(local)
                self.device = f"cuda:{local}"
            dist.init_process_group(backend)
            self.joined = True
        elif is_distributed() and dist.get_backend() == "nccl":
            self.device = f"cuda:{torch.cuda.current_device()}"
        return self

    @property
    def rank(self) -> int:
        return rank()

    def __exit__(self, *exc) -> None:
        if self.joined:
            dist.destroy_process_group()
