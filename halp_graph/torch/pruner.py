"""HALPPruner: latency-aware structural pruning while the network fine-tunes (HALP).

Usage, in a plain training loop:

    pruner = HALPPruner(model, example_inputs, budget=0.5, interval=100, steps=30)
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        pruner.step()            # saliency of this iteration; prunes when due
        optimizer.step()
    pruner.finalize(optimizer)   # slim in place; the optimizer's state is cut to match

Each `step()` closes one iteration of Taylor saliency (taylor.py). Every `interval`
iterations, for `steps` pruning steps, the averaged saliencies (all-reduced under DDP) go
to the solve step with a cost target annealed geometrically from the dense cost to
`budget` times it (schedule.py); the plan it returns is applied as channel masks
(masks.py: hard, on the parameters, a removed channel stays removed). With
`soft_masks=True` (SMCP, soft_masks.py) layer inputs are masked with a straight-through
estimator: removed channels keep training and later plans may restore them.
`finalize()` removes the masks and slims the modules by the last plan (slim.py).

Under DistributedDataParallel, create the pruner on the bare model and wrap it after
(hard masks parametrize the parameters, which DDP must see from its construction);
after `finalize()` wrap the slim model in a new DDP. Saliencies are all-reduced over
`process_group` and every rank applies rank 0's plan (distributed.py).

Cost is whatever `CostModel` prices the groups: `MacsCostModel` by default, a latency
LUT when one is given (`cost_model=` takes a model or a factory called with the
module's GroupSet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch

from halp_graph.cost_model import CostModel, MacsCostModel, predict
from halp_graph.errors import PlanError
from halp_graph.graph.groups import GroupSet
from halp_graph.plan import PruningPlan

from .distributed import broadcast_plan
from .masks import ChannelMasks
from .soft_masks import StraightThroughMasks
from .module_groups import ModuleGroups, module_groups, unwrap
from .schedule import PruningSchedule
from .slim import SlimResult, slim_module
from .solve_step import select
from .taylor import TaylorSaliency


@dataclass
class PruneEvent:
    """What one pruning step did."""

    step: int
    iteration: int
    target: float  # cost target of this step, in the cost model's unit
    predicted: float  # predicted cost of the plan chosen
    kept_channels: int
    total_channels: int
    plan: PruningPlan = field(repr=False, default_factory=PruningPlan)


class HALPPruner:
    def __init__(self, model: torch.nn.Module, example_inputs, *, budget: float, interval: int,
                 steps: int, start: int = 0,
                 cost_model: CostModel | Callable[[GroupSet], CostModel] | None = None,
                 soft_masks: bool = False, leaf_modules: Iterable = (), process_group=None,
                 grad_scaler=None, solver: Callable = select):
        if not soft_masks and unwrap(model) is not model:
            raise ValueError("create the HALPPruner before wrapping the model in DistributedDataParallel: "
                             "hard masks parametrize its parameters, and DDP must see them that way "
                             "from the start (soft_masks=True works either way)")
        self.model = unwrap(model)
        self.groups: ModuleGroups = module_groups(self.model, example_inputs, leaf_modules)
        self.schedule = PruningSchedule(budget, interval, steps, start)
        if cost_model is None:
            cost_model = MacsCostModel(self.groups.groups)
        elif not isinstance(cost_model, CostModel) and callable(cost_model):
            cost_model = cost_model(self.groups.groups)
        self.cost_model = cost_model
        self.dense_cost = predict(cost_model, self.groups.groups, {})
        self.soft_masks = soft_masks
        self.process_group = process_group
        self.grad_scaler = grad_scaler
        self.solver = solver
        self.group_ids = [g.id for g in self.groups.prunable()]
        self.taylor = TaylorSaliency(self.groups, self.group_ids)
        self.masks = (StraightThroughMasks(self.groups, self.group_ids) if soft_masks
                      else ChannelMasks(self.groups, self.group_ids))
        self.masks.install()
        self.plan = PruningPlan({})
        self.iteration = 0
        self.history: list[PruneEvent] = []
        self.last_scores: dict[str, np.ndarray] = {}  # the (all-reduced) saliency of the last step
        self.finalized = False

    # ------------------------------------------------------------- loop
    def step(self) -> PruneEvent | None:
        """Call once per iteration, after backward and before the optimizer step."""
        if self.finalized:
            raise RuntimeError("the pruner was finalized; the model is already slim")
        scale = float(self.grad_scaler.get_scale()) if self.grad_scaler is not None else 1.0
        self.taylor.commit(scale)
        self.iteration += 1
        k = self.schedule.step_at(self.iteration)
        return self.prune_now(k) if k is not None else None

    @property
    def done(self) -> bool:
        """True once the last pruning step has happened."""
        return len(self.history) >= self.schedule.steps

    def prune_now(self, step: int) -> PruneEvent:
        """Run pruning step `step` (1..steps) with the saliency accumulated so far."""
        scores = {gid: s.numpy() for gid, s in self.taylor.scores(self.process_group).items()}
        self.last_scores = scores
        if not self.soft_masks:
            scores = self._forget_removed(scores)
        target = self.dense_cost * self.schedule.target_fraction(step)
        plan = self.solver(self.groups.groups, self.cost_model, scores, target)
        if not self.soft_masks:
            plan = _within(plan, self.plan, self.groups.groups)
        plan = broadcast_plan(plan, self.groups.groups, self.process_group)
        self.masks.apply(plan)
        self.plan = plan
        self.taylor.reset()
        kept = plan.kept_counts(self.groups.groups)
        event = PruneEvent(step, self.iteration, target,
                           predict(self.cost_model, self.groups.groups, kept),
                           sum(kept[g] for g in self.group_ids),
                           sum(self.groups[g].size for g in self.group_ids), plan)
        self.history.append(event)
        return event

    def _forget_removed(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Hard masks: removed channels score 0 so the solve step drops them first."""
        out = dict(scores)
        for gid, idx in self.plan.keep.items():
            if gid in out:
                s = np.zeros_like(out[gid])
                s[idx] = out[gid][idx]
                out[gid] = s
        return out

    # --------------------------------------------------------------- end
    def finalize(self, optimizer: torch.optim.Optimizer | None = None) -> SlimResult:
        """Remove hooks and masks and slim the model by the last plan, in place.

        Pass the optimizer to have its per-parameter state cut the same way. A DDP
        wrapper must be rebuilt around the slim model afterwards."""
        self.taylor.remove()
        self.masks.remove()
        self.finalized = True
        return slim_module(self.groups, self.plan, optimizer)

    def predicted_fraction(self) -> float:
        kept = self.plan.kept_counts(self.groups.groups)
        return predict(self.cost_model, self.groups.groups, kept) / self.dense_cost


def _within(new: PruningPlan, old: PruningPlan, groups: GroupSet) -> PruningPlan:
    """Hard masks never revive a channel: keep only channels the previous plan kept, unless
    that breaks a group's block or minimum constraints (then the new choice stands)."""
    keep = dict(new.keep)
    for gid, old_idx in old.keep.items():
        new_idx = keep.get(gid, list(range(groups[gid].size)))
        both = sorted(set(new_idx) & set(old_idx))
        try:
            PruningPlan({gid: both}).validate(groups)
        except PlanError:
            continue
        if both:
            keep[gid] = both
    return PruningPlan(keep)
