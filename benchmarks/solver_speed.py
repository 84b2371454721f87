"""Solve time on real networks: the exact solver against HALP's augmented knapsack.

Each model is exported at 224x224 (torchvision, random weights, legacy exporter), its
groups found, and priced by its latency LUT for `--target` (ORT CPU, 1 thread, batch 1 by
default; taken from prune's LUT cache, built there on first use), or with `--cost macs` by
MacsCostModel with `--granularity`-channel steps. Saliency is weight magnitude (L1). For each budget (a fraction of the dense
cost) the table shows the exact solver's wall time (problem construction, Lagrangian
bound, Pareto DP or MILP), its status and how many options survive the reduction, and
HALP's augmented knapsack: the one-shot answer's time, and the share of the optimal kept
saliency that it and HALP's 30-step schedule (halp_greedy.halp_schedule) reach.

    python benchmarks/solver_speed.py [--quick] [--cost lut|macs] [--models resnet50 ...] [--budgets 0.5 ...]
"""

from __future__ import annotations

import argparse
import time

from halp_graph.cost_model import MacsCostModel
from halp_graph.graph import analyze, load_model
from halp_graph.latency import get_target
from halp_graph.models import zoo
from halp_graph.pruning.lut_source import cached_or_built
from halp_graph.saliency import score
from halp_graph.solver import build_problem, solve_problem
from halp_graph.solver.halp_greedy import halp_schedule

MODELS = ["resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121", "regnet_y_400mf", "convnext_tiny"]
BUDGETS = [0.3, 0.5, 0.7, 0.9]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--budgets", nargs="+", type=float, default=BUDGETS)
    parser.add_argument("--cost", choices=["lut", "macs"], default="lut")
    parser.add_argument("--target", default="cpu", help="the LUT's target (with --cost lut)")
    parser.add_argument("--granularity", type=int, default=16, help="MACs steps (with --cost macs)")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="resnet50 at budget 0.5 only")
    args = parser.parse_args()
    models, budgets = (["resnet50"], [0.5]) if args.quick else (args.models, args.budgets)
    print(f"{_describe(args)}; magnitude saliency\n")
    print("| model | groups | options | budget | exact | exact s | options left | stage "
          "| HALP s | HALP / optimum | HALP schedule / optimum |")
    print("|---|---:|---:|---:|---|---:|---:|---|---:|---:|---:|")
    for name in models:
        path = zoo.export(name, "legacy", resolution=224)
        model = load_model(path)
        groups = analyze(model)
        cost_model = _cost_model(args, model, groups)
        scores = score(groups, model, method="magnitude")
        dense = cost_model.dense_cost()
        for fraction in budgets:
            start = time.perf_counter()
            problem = build_problem(groups, cost_model, scores, fraction * dense)
            exact = solve_problem(problem, method="exact", time_limit=args.time_limit)
            exact_s = time.perf_counter() - start
            start = time.perf_counter()
            greedy = solve_problem(build_problem(groups, cost_model, scores, fraction * dense), method="greedy")
            greedy_s = time.perf_counter() - start
            schedule = halp_schedule(problem)
            d = exact.details
            status = exact.status if exact.status != "feasible" else f"gap {100 * exact.gap:.3f}%"
            print(f"| {name} | {len(problem.counts)} | {d.get('options', '')} | {fraction} | {status} "
                  f"| {exact_s:.2f} | {d.get('options_after_reduction', '')} | {d.get('stage', 'bound')} "
                  f"| {greedy_s:.2f} | {_share(greedy.counts if greedy.feasible else None, problem, exact)} "
                  f"| {_share(schedule.counts, problem, exact)} |", flush=True)


def _describe(args) -> str:
    if args.cost == "macs":
        return f"MacsCostModel, candidate counts on multiples of {args.granularity}"
    return f"latency LUT for target {args.target} (prune's cache)"


def _cost_model(args, model, groups):
    if args.cost == "macs":
        return MacsCostModel(groups, granularity=args.granularity)
    return cached_or_built(model, groups, get_target(args.target), progress=True).cost_model


def _share(counts, problem, exact) -> str:
    if counts is None or not exact.objective:
        return "no plan"
    return f"{100 * problem.value(counts) / exact.objective:.2f}%"


if __name__ == "__main__":
    main()
