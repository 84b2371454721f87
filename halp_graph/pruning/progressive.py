"""`--schedule STEPS`: HALP's iterative schedule on an ONNX model, label-free.

The dense model's twin is distilled toward the dense model itself while channels are
removed from it step by step: during the first half of the training steps, pruning step
k of K (evenly spaced) re-measures loss-aware scores on the current student (channels
removed so far held at zero), and the exact knapsack, on the same latency table, keeps
the best channels within the annealed target

    target_k = dense * final ** (k / K)     (predicted cost, HALP's geometric schedule)

where `final` is the solver budget at which the one-shot closed loop (run first, before
any training) measured at the goal, so the annealing ends where the latency does. No
step keeps a channel an earlier step removed, and no step before the last keeps fewer
channels in a group than that one-shot plan does: latency depends on the kept counts
alone, so the last step can always reach the latency the one-shot plan measured (on a
coarse staircase an earlier step could otherwise jump past the goal, leaving only plans
well under or over it). The last step runs the closed loop on
the rewritten student (measured latency, budget corrected as in a one-shot prune) and
fixes the final plan, starting from that budget; training then goes on with that plan until the end, keeping the
best held-out state from that point. Removed channels are masked to zero in the twin
(channel_masks), which computes exactly what the rewritten model computes (the
equivalence invariant), so one optimiser and one learning-rate schedule carry through;
the result is the final weights rewritten by the final plan.

Stopped early (time limit, Ctrl-C) before the last step, the last step runs at once on
the current weights, so the result always meets the budget. Under torch.distributed every rank scores, solves
and (at the last step) times on its own, and every step's plan is then broadcast from
rank 0, so all ranks mask, train and rewrite with the same plan.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..graph import analyze
from ..graph.capture_onnx import LoadedModel
from ..graph.groups import GroupSet
from ..passes import prune_channels
from ..plan import PruningPlan
from ..runtime import torch_threads
from ..samples import Samples
from ..solver import build_problem, make_plan, solve_problem
from .closed_loop import Round, run_loop
from .finetune import checked_twins


@dataclass
class ScheduleOutcome:
    chosen: Round
    rounds: list[Round]
    model: LoadedModel | None  # the final weights rewritten by the final plan (None: skipped)
    info: dict = field(default_factory=dict)  # the report's "schedule" entry


def run_schedule(loaded: LoadedModel, groups: GroupSet, problem, scoring, source, data, train: Samples,
                 config, steps: int, rewrite, *, goal: float, relative: bool, target, solve: dict,
                 assess=None, log=lambda m: None) -> ScheduleOutcome:
    """The one-shot closed loop (which fixes the final budget and the floor counts), then
    the schedule. When the model has no checked twin, the one-shot round is the outcome
    (model None, info["skipped"] the reason): the caller goes on as without a schedule."""
    from ..saliency.loss_aware import LossAwareUnavailable  # lazy: torch is optional

    log("schedule: the one-shot closed loop first, to find the solver budget that measures at the goal")
    oneshot, calibration = run_loop(problem, groups, scoring.scores, loaded, rewrite, target, goal=goal,
                                    relative=relative, measurable=source.measurable, method=solve["method"],
                                    time_limit=solve["time_limit"], max_rounds=solve["max_rounds"],
                                    tolerance=solve["tolerance"], measure_rounds=solve["measure_rounds"],
                                    log=log, profiles=solve.get("profiles"))
    if assess is not None and oneshot.model is not None:
        oneshot.fidelity = assess(oneshot.model)
    if scoring.method != "loss-aware":
        reason = (scoring.info.get("fallback_from") or {}).get("reason") or \
            f"the schedule re-measures loss-aware scores; this run scored with {scoring.method}"
        log(f"schedule skipped: {reason}; keeping the one-shot result")
        return ScheduleOutcome(oneshot, calibration, None, {"skipped": reason})
    found = oneshot.plan is not None
    floor, final_budget = _shared_oneshot(oneshot, groups) if found else (None, None)
    schedule = Schedule(loaded, groups, source.cost_model, data.calib, train, data.eval, config, steps,
                        goal=goal, relative=relative, target=target, measurable=source.measurable,
                        solve=solve, first_scores=(scoring.scores, scoring.tables), assess=assess, log=log,
                        final_budget=final_budget, floor_counts=floor)
    try:
        outcome = schedule.run()
    except LossAwareUnavailable as exc:
        log(f"schedule skipped: {exc}; keeping the one-shot result")
        return ScheduleOutcome(oneshot, calibration, None, {"skipped": str(exc)})
    outcome.info["calibration_rounds"] = [r.to_json() for r in calibration]
    # the share of saliency kept, judged on the dense model's scores like a one-shot run's
    outcome.chosen.objective, outcome.chosen.max_objective = problem.value(outcome.chosen.counts), \
        problem.max_value()
    return outcome


def step_positions(total_steps: int, steps: int) -> list[int]:
    """Optimiser steps after which pruning steps 1..steps happen: evenly over the first
    half of training (several at one optimiser step when there are fewer of those)."""
    if steps < 1:
        raise ValueError(f"the schedule needs at least one step, not {steps}")
    half = max(total_steps // 2, 1)
    return [max(1, round(k * half / steps)) for k in range(1, steps + 1)]


def capped(problem, counts: dict[str, int], floor: dict[str, int] | None = None):
    """The problem with every group limited to at most its current kept count (and at
    least its `floor` count, where one is given)."""
    floor = floor or {}
    keep = {}
    for g, c in problem.counts.items():
        top = counts.get(g, c[-1])
        keep[g] = np.nonzero((c <= top) & (c >= min(floor.get(g, 0), top)))[0]
    return problem.restrict(keep)


def _shared_oneshot(oneshot: Round, groups: GroupSet) -> tuple[dict, float]:
    """(floor counts, final budget) from the one-shot round, rank 0's under
    torch.distributed: each rank times on its own, and the steps must agree."""
    from ..torch.distributed import broadcast_plan, broadcast_value  # lazy: torch is optional

    plan = broadcast_plan(oneshot.plan, groups)
    kept = plan.kept_counts(groups)
    return {g.id: kept[g.id] for g in groups.prunable()}, broadcast_value(oneshot.budget_ms)


class Schedule:
    """One scheduled run; `run()` returns a ScheduleOutcome. Arguments as prune's: `solve`
    holds method, time_limit, max_rounds, tolerance, measure_rounds; `assess` measures a
    rewritten model's fidelity (ONNX Runtime)."""

    def __init__(self, loaded: LoadedModel, groups: GroupSet, cost_model, calib: Samples,
                 train: Samples, held_out: Samples | None, config, steps: int, *, goal: float,
                 relative: bool, target, measurable: bool, solve: dict, first_scores=None,
                 assess=None, final_budget: float | None = None, floor_counts: dict | None = None,
                 log=lambda m: None):
        self.loaded, self.groups, self.cost_model = loaded, groups, cost_model
        self.calib, self.train, self.held_out = calib, train, held_out
        self.config, self.steps = config, steps
        self.goal, self.relative, self.target, self.measurable = goal, relative, target, measurable
        self.solve, self.first_scores, self.assess, self.log = solve, first_scores, assess, log
        self.final_budget = final_budget  # predicted ms that measured at the goal, if known
        self.floor_counts = floor_counts or {}  # the one-shot plan's kept counts
        self.records: list[dict] = []
        self.final: tuple[Round, list[Round]] | None = None

    def run(self) -> ScheduleOutcome:
        # lazy: torch is optional
        from ..distill import Distiller
        from ..saliency.channel_masks import ChannelMasks

        self.teacher, self.student = checked_twins(self.loaded, self.loaded, self.train)
        self.masks = ChannelMasks(self.groups, self.groups.prunable())
        self.plan = PruningPlan({})
        with torch_threads(1):
            self.trainer = Distiller(self.student, self.teacher, self.train, self.config, self.held_out,
                                     student_hook=self.masks.hook, log=self.log)
            self.positions = step_positions(self.trainer.total_steps, self.steps)
            self.trainer.best_from = self.positions[-1]
            clock = time.perf_counter()
            result = self.trainer.run(on_step=self._maybe_prune)
            if self.final is None:  # stopped before the last step: take it now
                self.log(f"training stopped ({result.stopped}) before the last pruning step: taking it now")
                self._prune(self.steps, result.steps)
                result.best = self.trainer.evaluate()
        chosen, rounds = self.final
        model = self._rewriter()(chosen.plan) if chosen.plan is not None else None
        info = {"steps": self.steps, "positions": self.positions, "goal_fraction": self._fraction(),
                "records": self.records, "seconds": round(time.perf_counter() - clock, 2),
                "training": result.to_json(), "epochs": self.config.epochs,
                "data": self.train.origin}
        return ScheduleOutcome(chosen, rounds, model, info)

    # ------------------------------------------------------------------ steps
    def _fraction(self) -> float:
        """The final target as a fraction of the dense predicted cost: the solver budget
        the one-shot closed loop found to measure at the goal, when it ran."""
        if self.final_budget is not None:
            return min(1.0, self.final_budget / self.cost_model.dense_cost())
        if self.relative:
            return self.goal
        return min(1.0, self.goal / self.cost_model.dense_cost())

    def _maybe_prune(self, step: int) -> None:
        for k, at in enumerate(self.positions, start=1):
            if at == step and self.final is None:
                self._prune(k, step)

    def _scores(self, k: int):
        from ..saliency.loss_aware import loss_aware_scores  # lazy: torch is optional

        if k == 1 and self.first_scores is not None:
            return self.first_scores
        result = loss_aware_scores(self.groups, self.loaded, self.calib, twin=self.student,
                                   removed=self.plan.removed(self.groups))
        return result.scores, result.tables

    def _prune(self, k: int, step: int) -> None:
        from ..torch.distributed import broadcast_plan  # lazy: torch is optional

        clock = time.perf_counter()
        self.student.eval()
        scores, tables = self._scores(k)
        problem = build_problem(self.groups, self.cost_model, scores, budget=0.0, measured=tables)
        current = self.plan.kept_counts(self.groups)
        record = {"step": k, "at": step, "epoch": round(step / self.trainer.steps_per_epoch, 3)}
        if k < self.steps:
            problem = capped(problem, current, self.floor_counts)
            fraction = self._fraction() ** (k / self.steps)
            budget = problem.dense_cost * fraction
            result = solve_problem(problem.with_budget(budget), method=self.solve["method"],
                                   time_limit=self.solve["time_limit"])
            if result.feasible:
                self.plan = broadcast_plan(make_plan(self.groups, scores, result.counts), self.groups)
            record.update(target_fraction=round(fraction, 4), solver_budget_ms=budget,
                          predicted_ms=result.predicted_cost if result.feasible else None)
        else:
            self.final = self._closed_loop(capped(problem, current), scores)
            chosen = self.final[0]
            if chosen.plan is not None:  # rank 0's plan on every rank, the round made to match
                self.plan = broadcast_plan(chosen.plan, self.groups)
                kept = self.plan.kept_counts(self.groups)
                chosen.plan, chosen.counts = self.plan, {g.id: kept[g.id] for g in self.groups.prunable()}
            record.update(target_fraction=round(self._fraction(), 4), solver_budget_ms=chosen.budget_ms,
                          predicted_ms=chosen.predicted_ms, measured=chosen.achieved)
            self.trainer.best_from = step
        self.masks.set_removed(self.plan.removed(self.groups))
        kept = self.plan.kept_counts(self.groups)
        record["kept_channels"] = sum(kept[g.id] for g in self.groups.prunable())
        record["held_out"] = self.trainer.evaluate()
        record["seconds"] = round(time.perf_counter() - clock, 2)
        self.records.append(record)
        held = record["held_out"]
        agreement = (f", held-out agreement {100 * held['agreement']:.1f}%"
                     if held and held.get("agreement") is not None else "")
        self.log(f"schedule step {k}/{self.steps} (after {step} training steps): "
                 f"{record['kept_channels']} channels kept, predicted {record['predicted_ms'] or 0:.2f} ms"
                 f"{agreement} [{record['seconds']:.1f}s]")

    def _rewriter(self):
        """plan -> the student's current weights, rewritten by the plan. The groups are
        captured again on the exported model (the rewrite reads weights through them); the
        structure is the dense model's, so they must come out the same."""
        trained = LoadedModel(self.student.to_onnx(), self.loaded.base_dir, self.loaded.path)
        groups = analyze(trained)
        same = [(g.id, g.size) for g in groups.prunable()] == [(g.id, g.size) for g in self.groups.prunable()]
        if not same:
            raise RuntimeError("the trained model's channel groups differ from the dense model's")

        def rewrite(plan: PruningPlan) -> LoadedModel:
            return prune_channels(trained, plan, groups)
        return rewrite

    def _closed_loop(self, problem, scores) -> tuple[Round, list[Round]]:
        s = self.solve
        return run_loop(problem, self.groups, scores, self.loaded, self._rewriter(), self.target,
                        goal=self.goal, relative=self.relative, measurable=self.measurable,
                        method=s["method"], time_limit=s["time_limit"], max_rounds=s["max_rounds"],
                        tolerance=s["tolerance"], measure_rounds=s["measure_rounds"], log=self.log,
                        assess=self.assess, start_budget=self.final_budget, profiles=s.get("profiles"))
