"""The two baselines HALP is compared with on Fashion-MNIST, as pruning plans.

* Uniform L1 (Li et al., "Pruning Filters for Efficient ConvNets"): every prunable group
  keeps the same fraction of its channels, those whose producing filters have the largest
  L1 norm.
* Global magnitude, Torch-Pruning style (its MagnitudeImportance with p=2,
  group_reduction="mean", normalizer="mean", global_pruning=True): a channel's importance
  is the mean over the group's parameter members of its squared L2 norm, divided by the
  group's mean importance; the least important channels network-wide go first. This is
  written here against halp_graph's groups rather than by calling the torch-pruning
  package, so both methods see exactly the same coupled groups.

Both are one-shot and latency-unaware; `match_latency` finds the pruning amount whose
measured latency matches a target, so they are compared with HALP at equal latency.
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch

from halp_graph.latency.timing import MODEL, TimingConfig
from halp_graph.plan import PruningPlan
from halp_graph.torch import ModuleGroups, module_groups, slim_module
from halp_graph.torch.taylor import trainable_parameter

from _common import module_latency_ms


def _keep_top(scores: np.ndarray, count: int) -> list[int]:
    order = np.lexsort((np.arange(len(scores)), -scores))
    return sorted(int(i) for i in order[:count])


def l1_filter_scores(groups: ModuleGroups) -> dict[str, np.ndarray]:
    """L1 norm of each channel's producing filters (conv / linear rows), summed."""
    out = {}
    for g in groups.prunable():
        total = np.zeros(g.size)
        for pm in groups.param_members(g):
            if pm.member.node in g.producers and pm.slot == 1:
                w = trainable_parameter(groups, (pm.ref.module, pm.ref.name)).detach().abs()
                dims = [d for d in range(w.dim()) if d != pm.axis]
                v = w.sum(dim=dims).numpy().astype(np.float64)
                total += v[pm.member.elem_start:pm.member.elem_start + g.size * pm.member.block] \
                    .reshape(g.size, pm.member.block).sum(1)
        out[g.id] = total
    return out


def uniform_l1_plan(groups: ModuleGroups, keep_fraction: float) -> PruningPlan:
    scores = l1_filter_scores(groups)
    keep = {}
    for g in groups.prunable():
        count = max(1, int(round(keep_fraction * g.size)))
        if count < g.size:
            keep[g.id] = _keep_top(scores[g.id], count)
    return PruningPlan(keep)


def tp_magnitude_scores(groups: ModuleGroups) -> dict[str, np.ndarray]:
    """Torch-Pruning's normalised group magnitude importance (p=2, mean, mean)."""
    out = {}
    for g in groups.prunable():
        per_member = []
        for pm in groups.param_members(g):
            p = trainable_parameter(groups, (pm.ref.module, pm.ref.name))
            if p is None:
                continue
            w = p.detach().pow(2)
            dims = [d for d in range(w.dim()) if d != pm.axis]
            v = (w.sum(dim=dims) if dims else w).numpy().astype(np.float64)
            per_member.append(v[pm.member.elem_start:pm.member.elem_start + g.size * pm.member.block]
                              .reshape(g.size, pm.member.block).sum(1))
        imp = np.mean(per_member, axis=0)
        out[g.id] = imp / max(imp.mean(), 1e-12)
    return out


def global_magnitude_plan(groups: ModuleGroups, prune_fraction: float) -> PruningPlan:
    """Remove the `prune_fraction` least important channels over all prunable groups,
    keeping at least one per group."""
    scores = tp_magnitude_scores(groups)
    flat = np.concatenate([scores[g.id] for g in groups.prunable()])
    n_remove = int(round(prune_fraction * len(flat)))
    if n_remove <= 0:
        return PruningPlan({})
    threshold = np.sort(flat)[n_remove - 1]
    keep = {}
    for g in groups.prunable():
        s = scores[g.id]
        kept = [int(i) for i in np.nonzero(s > threshold)[0]]
        if not kept:
            kept = _keep_top(s, 1)
        if len(kept) < g.size:
            keep[g.id] = sorted(kept)
    return PruningPlan(keep)


def slimmed_copy(model: torch.nn.Module, example: torch.Tensor, plan_for: Callable[[ModuleGroups], PruningPlan]):
    """A deep copy of `model` slimmed by the plan `plan_for(groups)` builds."""
    clone = copy.deepcopy(model)
    groups = module_groups(clone, example)
    plan = plan_for(groups)
    slim_module(groups, plan)
    return clone, plan


def match_latency(model: torch.nn.Module, example: torch.Tensor, latency_input: torch.Tensor,
                  plan_for_knob: Callable[[ModuleGroups, float], PruningPlan], target_ms: float,
                  lo: float, hi: float, more_pruning_when_higher: bool, points: int = 12,
                  refine: int = 4, timing: TimingConfig = MODEL, tolerance: float = 0.03):
    """The least pruning whose slimmed copy measures within `tolerance` of `target_ms`.

    Latency is not monotonic in the pruning amount (channel counts off the 16-channel
    staircase can be slower than the dense layer), so this scans a grid of knob values,
    takes the least-pruning one that meets the target, and refines between it and its
    less-pruning neighbour. When nothing meets the target, the fastest one wins.
    Returns (knob, latency_ms, slim copy, plan)."""
    limit = target_ms * (1 + tolerance)
    pruning = (lambda k: k) if more_pruning_when_higher else (lambda k: -k)
    tried = {}

    def trial(knob: float):
        if knob not in tried:
            clone, plan = slimmed_copy(model, example, lambda g: plan_for_knob(g, knob))
            tried[knob] = (knob, module_latency_ms(clone, latency_input, timing), clone, plan)
        return tried[knob]

    grid = sorted(np.linspace(lo, hi, points).tolist(), key=pruning)  # least pruning first
    for knob in grid:
        trial(knob)
    feasible = [tried[k] for k in grid if tried[k][1] <= limit]
    if not feasible:
        return min(tried.values(), key=lambda t: t[1])
    best = feasible[0]
    i = grid.index(best[0])
    if i > 0:
        for knob in np.linspace(grid[i - 1], best[0], refine + 2)[1:-1].tolist():
            t = trial(knob)
            if t[1] <= limit and pruning(t[0]) < pruning(best[0]):
                best = t
    return best
