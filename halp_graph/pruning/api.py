"""`prune`: one call from an ONNX model and a latency goal to a slimmer, checked model.

    from halp_graph import prune
    result = prune("model.onnx", target="cpu", budget=0.5)
    result.model      # LoadedModel of the pruned network (save with halp_graph.onnx_io)
    result.report     # dict, schema halp_graph.report/1: plan, kept counts, latencies, rounds

Steps: capture and group; a cost model from the LUT (given, cached, or built); saliency
(magnitude, activation on calibration data, or scores passed in); the exact
latency-saliency knapsack; the rewrite; and, when the target can be timed here, the
closed loop that measures the result and corrects the budget (closed_loop.py).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from ..errors import TargetError
from ..graph import GroupSet, analyze, as_loaded
from ..graph.capture_onnx import LoadedModel
from ..plan import PruningPlan
from .closed_loop import run_loop
from .lut_source import cached_or_built, given_lut
from .report import build_report, summary


@dataclass
class PruneResult:
    model: LoadedModel | None  # None when no plan fits the goal
    report: dict
    plan: PruningPlan | None
    groups: GroupSet

    @property
    def on_target(self) -> bool:
        return self.report["status"] == "on target"

    def summary(self) -> str:
        return summary(self.report)


def check_goal(budget: float | None, latency_ms: float | None) -> tuple[float, bool]:
    """(goal, relative): exactly one of a budget in (0, 1] or a positive latency."""
    if (budget is None) == (latency_ms is None):
        raise TargetError("give exactly one of a budget (fraction of the dense latency) or a latency in ms")
    if budget is not None:
        if not (isinstance(budget, (int, float)) and 0 < budget <= 1):
            raise TargetError(f"budget must be in (0, 1] (a fraction of the dense latency), not {budget}")
        return float(budget), True
    if not (isinstance(latency_ms, (int, float)) and latency_ms > 0):
        raise TargetError(f"latency must be a positive number of milliseconds, not {latency_ms}")
    return float(latency_ms), False


def prune(model, target="cpu", budget: float | None = None, *, latency_ms: float | None = None,
          lut: str | None = None, saliency: str = "magnitude", calib=None, scores=None,
          method: str = "exact", max_rounds: int = 6, tolerance: float = 0.02,
          time_limit: float = 20.0, measure_rounds: int = 10, progress: bool = False,
          log=None) -> PruneResult:
    """Prune `model` (path, ModelProto or LoadedModel) so that it runs within `budget`
    times its dense latency (or within `latency_ms`) on `target` (a name or a Target)."""
    from ..latency import get_target
    from ..passes import PruneChannelsPass
    from ..saliency import check_scores, score
    from ..solver import build_problem

    goal, relative = check_goal(budget, latency_ms)
    target = get_target(target) if isinstance(target, str) else target
    log = log or (lambda message: print(message, file=sys.stderr) if progress else None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    loaded = as_loaded(model)
    groups = analyze(loaded)
    lap("capture")
    log(f"captured {len(groups)} groups, {len(groups.prunable())} prunable, "
        f"{len(groups.layers)} layers [{timings['capture']:.1f}s]")

    source = given_lut(lut, groups, target) if lut else cached_or_built(loaded, groups, target, progress)
    lap("lut")
    log(f"latency table: {source.origin} ({source.path}) [{timings['lut']:.1f}s]")

    if scores is not None:
        chosen_scores = check_scores(groups, scores)
        saliency = "given"
    else:
        chosen_scores = score(groups, loaded, method=saliency, calib=calib)
    lap("saliency")
    log(f"saliency: {saliency} [{timings['saliency']:.1f}s]")

    problem = build_problem(groups, source.cost_model, chosen_scores, budget=0.0)
    lap("problem")

    def rewrite(plan: PruningPlan) -> LoadedModel:
        return PruneChannelsPass(plan, groups)(loaded).model

    chosen, rounds = run_loop(problem, groups, chosen_scores, loaded, rewrite, target, goal=goal,
                              relative=relative, measurable=source.measurable, method=method,
                              time_limit=time_limit, max_rounds=max_rounds, tolerance=tolerance,
                              measure_rounds=measure_rounds, log=log)
    lap("solve_rewrite_measure")
    report = build_report(model_path=loaded.path, target=target, goal=goal, relative=relative,
                          groups=groups, chosen=chosen, rounds=rounds, source=source,
                          saliency=saliency, method=method, original_proto=loaded.proto,
                          pruned_proto=chosen.model.proto if chosen.model else None, timings=timings)
    return PruneResult(chosen.model, report, chosen.plan, groups)
