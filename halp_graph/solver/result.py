"""What a solve returns: the choice, how good it is proven to be, and what it costs."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..plan import PruningPlan

STATUSES = ("optimal", "feasible", "infeasible")


@dataclass
class SolveResult:
    """status: "optimal" (proven best), "feasible" (within budget, `gap` bounds how far from
    the best it may be; None when unknown), or "infeasible" (no choice fits the budget:
    `counts` and `plan` are then the cheapest choice found, `predicted_cost` its cost).

    counts: kept channels per prunable group. objective: the saliency they keep, out of
    max_objective (keeping everything). bound: proven upper bound on the objective.
    Costs are in the cost model's `unit` (ms for latency LUTs, MMAC for MacsCostModel).
    """

    status: str
    method: str  # "exact" | "greedy"
    counts: dict[str, int]
    objective: float
    max_objective: float
    bound: float | None
    predicted_cost: float
    dense_cost: float
    budget: float
    unit: str
    solve_time_s: float
    message: str = ""
    plan: PruningPlan | None = None
    details: dict = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        """Relative optimality gap (bound - objective) / bound; 0 when optimal."""
        if self.status == "optimal":
            return 0.0
        if self.bound is None or self.status == "infeasible":
            return None
        return max(0.0, self.bound - self.objective) / max(abs(self.bound), 1e-300)

    @property
    def feasible(self) -> bool:
        return self.status in ("optimal", "feasible")

    def to_json(self) -> dict:
        return {"status": self.status, "method": self.method, "objective": self.objective,
                "max_objective": self.max_objective, "bound": self.bound, "gap": self.gap,
                "predicted_cost": self.predicted_cost, "dense_cost": self.dense_cost,
                "budget": self.budget, "unit": self.unit, "solve_time_s": self.solve_time_s,
                "message": self.message, "kept_counts": dict(self.counts),
                "details": dict(self.details)}
