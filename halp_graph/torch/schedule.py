"""When the training-time pruner prunes, and to which target.

HALP prunes every `interval` iterations for `steps` steps (30 in the paper). The cost
target of step k is annealed geometrically from the dense cost to the budget:

    target_k = dense * budget ** (k / steps),   k = 1 .. steps

so early steps remove little while the network adapts, and the last step lands on the
budget. Saliency accumulates from the first iteration; `start` delays the first step.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PruningSchedule:
    budget: float  # final cost as a fraction of the dense cost, in (0, 1]
    interval: int  # iterations between pruning steps
    steps: int  # number of pruning steps
    start: int = 0  # iterations before the first interval begins

    def __post_init__(self):
        if not 0 < self.budget <= 1:
            raise ValueError(f"budget must be in (0, 1], got {self.budget}")
        if self.interval < 1 or self.steps < 1 or self.start < 0:
            raise ValueError(f"interval and steps must be >= 1 and start >= 0, got "
                             f"interval={self.interval}, steps={self.steps}, start={self.start}")

    def step_at(self, iteration: int) -> int | None:
        """The pruning step (1..steps) due after `iteration` completed iterations, or None."""
        t = iteration - self.start
        if t <= 0 or t % self.interval:
            return None
        k = t // self.interval
        return k if k <= self.steps else None

    def target_fraction(self, step: int) -> float:
        return self.budget ** (step / self.steps)

    @property
    def last_iteration(self) -> int:
        """The iteration after which the last pruning step happens."""
        return self.start + self.interval * self.steps
