"""A two-process gloo run of HALPPruner (spawned by test_ddp.py): every rank trains on its
own shard of scikit-learn's digits, prunes with all-reduced saliency, slims, rebuilds DDP
and keeps training; it writes its plans and final state to `out_dir/rank<r>.json`."""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

from tiny_models import DigitsNet, digits_tensors


def run(rank: int, world: int, out_dir: str, soft_masks: bool) -> None:
    torch.set_num_threads(1)
    # A file store in the test's own directory: no TCP port to race other tests for.
    store = os.path.join(out_dir, "rendezvous")
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        from halp_graph.torch import HALPPruner

        torch.manual_seed(0)  # identical initial weights on every rank
        model = DigitsNet()
        x, y = digits_tensors()
        x, y = x[rank::world], y[rank::world]  # each rank sees different data
        pruner = HALPPruner(model, x[:2], budget=0.5, interval=5, steps=4, start=5, soft_masks=soft_masks)
        ddp = DDP(model)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
        gen = torch.Generator().manual_seed(100 + rank)
        plans, scores, local_differ = [], None, False
        while not pruner.done:
            idx = torch.randint(0, len(x), (32,), generator=gen)
            loss = F.cross_entropy(ddp(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            if pruner.schedule.step_at(pruner.iteration + 1) is not None:
                local_differ = local_differ or _local_scores_differ(pruner)
            event = pruner.step()
            opt.step()
            if event is not None:
                plans.append(event.plan.to_json())
                scores = {g: s.tolist() for g, s in pruner.last_scores.items()}
        pruner.finalize(opt)
        ddp = DDP(model)  # the slim parameters need new gradient buckets
        for _ in range(3):
            idx = torch.randint(0, len(x), (32,), generator=gen)
            loss = F.cross_entropy(ddp(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
        checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump({"plans": plans, "shapes": shapes, "checksum": checksum, "scores": scores,
                       "local_scores_differ": local_differ}, f)
        # Neither rank tears the group down while the other may still be using it.
        dist.barrier()
    finally:
        dist.destroy_process_group()
    # torch 2.13's gloo sometimes aborts in a C++ destructor at interpreter exit ("terminate
    # called without an active exception"), after everything above has finished and been
    # written. Leave without running those destructors so the test sees the run's outcome.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _local_scores_differ(pruner) -> bool:
    """Whether this rank's own saliency sums differ from the other rank's (before the
    all-reduce): compares them through an all-gather."""
    local = torch.cat([pruner.taylor._sums[g].float() for g in sorted(pruner.taylor._sums)])
    gathered = [torch.zeros_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    return not torch.equal(gathered[0], gathered[1])
