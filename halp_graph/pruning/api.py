"""`prune`: one call from an ONNX model and a latency goal to a slimmer, checked model.

    from halp_graph import prune
    result = prune("model.onnx", target="cpu", budget=0.5)
    result.model      # LoadedModel of the pruned network (save with halp_graph.onnx_io)
    result.report     # dict, schema halp_graph.report/1: plan, kept counts, latencies, rounds

Steps: capture and group (at the given input shapes, shape_profiles.py); a cost model from the
LUT (given, cached, or built; one per shape profile); saliency (loss-aware or activation
on calibration data, weight magnitude without data, or scores passed in); the exact
latency-saliency knapsack; the rewrite; when the target can be timed here, the closed
loop that measures the result and corrects the budget (closed_loop.py); reconstruction
of the chosen model on the calibration data; label-free distillation (finetune.py), or
instead HALP's iterative schedule (progressive.py); and fidelity against the dense model
on held-out data, every round and at the end. With a minimum agreement alone, a search
over budgets finds the fastest plan that keeps it (fidelity_search.py).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from ..errors import DataError, TargetError
from ..fidelity import FidelityProbe, describe
from ..graph import GroupSet, analyze, as_loaded
from ..graph.capture_onnx import LoadedModel
from ..input_shapes import fix_input_shapes
from ..latency import get_target
from ..latency.run_shapes import fill_shapes_from_a_run
from ..passes import prune_channels, pruned_structure
from ..plan import PruningPlan
from ..solver import build_problem
from .closed_loop import run_loop
from .data import HOLDOUT, prepare_data
from .emptying_credit import emptying_credits, with_emptying_credits
from .fidelity_search import fastest_keeping
from .finetune import finetune as run_finetune
from .finetune import finetune_samples, training_config
from .progressive import run_schedule
from .prune_report import build_report, summary
from .scoring import score_channels
from .shape_profiles import cost_source, same_groups, shaped_input, shaped_models


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


def rank0_plan(plan: PruningPlan, groups: GroupSet) -> PruningPlan:
    """Rank 0's plan under torch.distributed (each rank's closed loop times on its own),
    the plan itself otherwise; only training runs get here, so torch is installed."""
    from ..torch.distributed import broadcast_plan  # lazy: torch is optional

    return broadcast_plan(plan, groups)


def check_goal(budget: float | None, latency_ms: float | None,
               min_agreement: float | None = None) -> tuple[float | None, bool]:
    """(goal, relative): at most one of a budget in (0, 1] or a positive latency; none
    only when a minimum agreement alone is the goal (then goal is None)."""
    if min_agreement is not None and not (isinstance(min_agreement, (int, float)) and 0 < min_agreement <= 1):
        raise TargetError(f"minimum agreement must be in (0, 1], not {min_agreement}")
    if budget is None and latency_ms is None and min_agreement is not None:
        return None, True
    if (budget is None) == (latency_ms is None):
        raise TargetError("give exactly one of a budget (fraction of the dense latency) or a latency "
                          "in ms, or a minimum agreement alone")
    if budget is not None:
        if not (isinstance(budget, (int, float)) and 0 < budget <= 1):
            raise TargetError(f"budget must be in (0, 1] (a fraction of the dense latency), not {budget}")
        return float(budget), True
    if not (isinstance(latency_ms, (int, float)) and latency_ms > 0):
        raise TargetError(f"latency must be a positive number of milliseconds, not {latency_ms}")
    return float(latency_ms), False


def prune(model, target="cpu", budget: float | None = None, *, latency_ms: float | None = None,
          lut: str | None = None, saliency: str = "auto", calib=None, eval_data=None,
          holdout: float = HOLDOUT, reconstruct: bool | None = None, min_agreement: float | None = None,
          scores=None, method: str = "exact", max_rounds: int = 6, tolerance: float = 0.02,
          time_limit: float = 20.0, measure_rounds: int = 10, progress: bool = False,
          finetune: int = 0, finetune_data=None, schedule: int | None = None,
          finetune_time: float | None = None, learning_rate: float | None = None,
          batch_size: int | None = None, temperature: float | None = None,
          feature_weight: float = 0.0, device: str | None = None, input_shapes=None,
          fix_shapes: bool = False, log=None) -> PruneResult:
    """Prune `model` (path, ModelProto or LoadedModel) so that it runs within `budget`
    times its dense latency (or within `latency_ms`) on `target` (a name or a Target).

    calib: calibration data (.npz, image directory, or {input: array}); with it, saliency
    "auto" is loss-aware and the result is reconstructed (`reconstruct`, default on when
    there is data), and fidelity is measured on `eval_data` or on a `holdout` share of
    `calib`. min_agreement: the top-1 agreement with the dense model the result must keep
    on that data; alone (no budget) it asks for the fastest plan that keeps it.

    finetune: epochs of label-free distillation of the result against the dense model on
    `finetune_data` (default: the calibration samples), the held-out data choosing the
    best state; `finetune_time` caps it in seconds. schedule: HALP's iterative schedule
    in that many pruning steps, distilling throughout (needs finetune epochs). Options of
    the training: learning_rate, batch_size, temperature, feature_weight (feature matching
    at the pruned layers; 0 = outputs only), device (where the twins train: "cpu", or
    "cuda:N"; under a nccl process group, the rank's current CUDA device). Under
    torch.distributed every rank runs prune with the same arguments: training runs under
    DistributedDataParallel, and plans are broadcast from rank 0.

    input_shapes: shape profiles (input_shapes.ShapeProfile, or --input-shapes strings
    such as ["images:1,3,640,640@0.7", "images:1,3,320,320"]): shape inference, the
    latency tables, timing and calibration run at them, and the goal is the weighted
    latency over them (shape_profiles.py). The result keeps the model's dynamic axes unless
    fix_shapes (one profile) writes it at that shape.
    """
    goal, relative = check_goal(budget, latency_ms, min_agreement)
    target = get_target(target) if isinstance(target, str) else target
    log = log or (lambda message: print(message, file=sys.stderr) if progress else None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    loaded, profiles = shaped_input(as_loaded(model), input_shapes, fix_shapes)
    work = fix_input_shapes(loaded, profiles[0].shapes) if profiles else loaded  # analysed and calibrated
    data = prepare_data(work.proto, calib, eval_data, holdout)
    training = training_config(finetune, schedule, finetune_time, learning_rate, batch_size,
                               temperature, feature_weight, progress, device)
    if schedule and (data.calib is None or goal is None):
        raise DataError("--schedule needs calibration data (--calib) and a budget or latency goal")
    train = finetune_samples(finetune_data, loaded.proto, data.calib) if training else None
    if reconstruct and data.calib is None:
        raise DataError("reconstruction needs calibration data (--calib)")
    reconstruct = data.calib is not None if reconstruct is None else reconstruct
    groups = shaped_groups = analyze(work)
    fill_shapes_from_a_run(shaped_groups.graph, work)  # what shape inference could not tell
    if work is not loaded:
        groups = same_groups(analyze(loaded), shaped_groups)
    shaped = shaped_models(loaded, profiles, groups) if profiles else []
    lap("capture")
    log(f"captured {len(groups)} groups, {len(groups.prunable())} prunable, "
        f"{len(groups.layers)} layers [{timings['capture']:.1f}s]")
    probe = FidelityProbe(loaded, data.eval, data.eval_source) if data.eval is not None else None
    if min_agreement is not None and (probe is None or not probe.has_classifier()):
        raise DataError("--min-agreement needs held-out data (--calib or --eval) and a "
                        "classifier-like output ([samples, classes])")

    source = cost_source(loaded, groups, shaped, target, lut, progress)
    lap("lut")
    log(f"latency table: {source.origin} ({source.path}) [{timings['lut']:.1f}s]")

    scoring = score_channels(groups, work, saliency, data.calib, scores, log)
    lap("saliency")
    log(f"saliency: {scoring.method} [{timings['saliency']:.1f}s]")

    def rewrite(plan: PruningPlan) -> LoadedModel:
        return prune_channels(loaded, plan, groups)

    problem = build_problem(groups, source.cost_model, scoring.scores, budget=0.0,
                            measured=scoring.tables)
    credits = emptying_credits(problem, groups, lambda plan: pruned_structure(loaded, plan, groups),
                               source.cost_model)
    problem = with_emptying_credits(problem, credits)
    lap("problem")
    if credits:
        log(f"emptying {len(credits)} groups removes more than their layers: "
            f"{sum(sum(c.values()) for c in credits.values()):.2f} {problem.unit} priced in "
            f"[{timings['problem']:.1f}s]")

    def recover(plan: PruningPlan, pruned: LoadedModel) -> tuple[LoadedModel, dict | None]:
        if not reconstruct or not plan.removes_anything(groups):
            return pruned, None
        from ..passes.reconstruct import reconstruct as refit  # lazy: torch is optional
        return refit(loaded, pruned, plan, data.calib, groups)

    assess = probe.measure if probe is not None else None
    search = scheduled = None
    if schedule:
        solve = {"method": method, "time_limit": time_limit, "max_rounds": max_rounds,
                 "tolerance": tolerance, "measure_rounds": measure_rounds, "profiles": profiles}
        outcome = run_schedule(loaded, groups, problem, scoring, source, data, train, training, schedule,
                               rewrite, goal=goal, relative=relative, target=target, solve=solve,
                               assess=assess, log=log)
        chosen, rounds, scheduled = outcome.chosen, outcome.rounds, outcome.info
        lap("schedule")
    elif goal is None:
        chosen, rounds, search = fastest_keeping(problem, groups, scoring.scores, rewrite, recover, probe,
                                                 min_agreement, target, loaded, source.measurable,
                                                 method, time_limit, measure_rounds, log, profiles=profiles)
        goal = chosen.achieved if chosen.achieved is not None else 1.0
    else:
        chosen, rounds = run_loop(problem, groups, scoring.scores, loaded, rewrite, target, goal=goal,
                                  relative=relative, measurable=source.measurable, method=method,
                                  time_limit=time_limit, max_rounds=max_rounds, tolerance=tolerance,
                                  measure_rounds=measure_rounds, log=log, assess=assess,
                                  profiles=profiles)
    lap("solve_rewrite_measure")
    final_model, recovery, tuned = chosen.model, None, None
    fidelity = {"before_reconstruction": chosen.fidelity, "final": chosen.fidelity}
    if scheduled is not None and outcome.model is not None:
        final_model = outcome.model
        fidelity = {"before_finetune": chosen.fidelity,
                    "final": probe.measure(final_model) if probe is not None and final_model else None}
    elif chosen.model is not None and chosen.plan is not None and search is None:
        final_model, recovery = recover(chosen.plan, chosen.model)
        if recovery is not None:
            lap("reconstruction")
            log(f"reconstruction: {len(recovery['layers'])} layers refitted [{timings['reconstruction']:.1f}s]")
            if probe is not None:
                fidelity["final"] = probe.measure(final_model)
                log(f"fidelity after reconstruction: {describe(fidelity['final'])}")
    elif search is not None:
        fidelity = search.pop("fidelity")
        final_model = chosen.model
    if training and not schedule and final_model is not None and chosen.plan is not None:
        shared = rank0_plan(chosen.plan, groups)
        if shared.to_json() != chosen.plan.to_json():  # under torch.distributed: train one model
            kept = shared.kept_counts(groups)
            chosen.plan, chosen.model = shared, rewrite(shared)
            chosen.counts = {g.id: kept[g.id] for g in groups.prunable()}
            final_model, recovery = recover(shared, chosen.model)
        result = run_finetune(loaded, final_model, chosen.plan, groups, train, data.eval, training, log)
        tuned = result.info
        lap("finetune")
        if not tuned.get("skipped"):
            final_model = result.model
            if probe is not None:
                fidelity["after_reconstruction"] = fidelity["final"] if recovery is not None else None
                fidelity["before_finetune"] = fidelity["final"]
                fidelity["final"] = probe.measure(final_model)
                log(f"fidelity after fine-tuning: {describe(fidelity['final'])}")
    agreement_check = None
    if min_agreement is not None:
        agreement = (fidelity["final"] or {}).get("agreement")
        agreement_check = {"required": min_agreement, "agreement": agreement,
                           "met": agreement is not None and agreement >= min_agreement}
        if not agreement_check["met"] and search is None:
            log(f"agreement {100 * (agreement or 0):.1f}% is below {100 * min_agreement:.1f}%: "
                f"searching for the fastest budget that keeps it")
            kept, _, record = fastest_keeping(problem, groups, scoring.scores, rewrite, recover, probe,
                                              min_agreement, target, loaded, source.measurable, method,
                                              time_limit, measure_rounds, log,
                                              floor=min(1.0, chosen.budget_ms / problem.dense_cost),
                                              profiles=profiles)
            agreement_check["fastest_keeping"] = {
                "found": record["found"], "achieved": kept.achieved if record["found"] else None,
                "measured_ms": kept.measured_ms if record["found"] else None,
                "agreement": record["fidelity"]["final"]["agreement"] if record["found"] else None}
    report = build_report(model_path=loaded.path, target=target, goal=goal, relative=relative,
                          groups=groups, chosen=chosen, rounds=rounds, source=source,
                          saliency=scoring.to_json(), method=method, original_proto=loaded.proto,
                          pruned_proto=final_model.proto if final_model else None, timings=timings,
                          data=data.to_json(), fidelity=fidelity if probe is not None else None,
                          reconstruction=recovery, empty_costs=scoring.empty, search=search,
                          agreement_check=agreement_check, finetune=tuned, schedule=scheduled,
                          profiles=profiles, macs_groups=shaped_groups,
                          emptying_credits={g: sum(c.values()) for g, c in credits.items()})
    return PruneResult(final_model, report, chosen.plan, groups)
