"""Prediction fidelity: LUT-predicted versus measured latency of randomly pruned models.

For each model: build (or reuse) its LUT on the target, draw random plans
(halp_graph.testing.random_plan: each prunable group is left alone with probability 0.3,
else keeps a random number of channels; --p-empty and --p-single add emptied branches and
single-channel groups, as the rewrite tests use), rewrite the model by each plan
(prune_channels), and
compare the predicted latency (measured dense latency minus the LUT's savings) with the
pruned model's measured latency. The pruned and the dense model are timed interleaved
(one run each, round after round), and the error is taken on the ratio pruned/dense, so
that a machine that drifts while it measures does not count as a prediction error:

    error = (predicted / dense_lut) / (pruned_measured / dense_measured) - 1

Prints a table per model and the median and worst absolute error, and draws a scatter
plot (predicted vs measured, both as milliseconds at the LUT's dense latency).

--candidate-plans N also draws N plans from the counts the LUT proposes to the solver
(each group left alone with probability 0.3, else kept at one of its candidate counts:
the tops of latency steps), and reports their fidelity separately: these are the plans
a pruning run actually produces, where random plans mostly keep misaligned counts.

The LUT's whole-model calibration (halp_graph/pruning/lut_calibration.py) is fitted on plans of its own seed,
independent of the plans drawn here.

    python benchmarks/latency_fidelity.py                 # 4 models x 20 plans, 224x224
    python benchmarks/latency_fidelity.py --candidate-plans 20   # and 20 solver-like plans
    python benchmarks/latency_fidelity.py --quick         # smoke run: 2 small models, 3 plans
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from halp_graph.cost_model import predict  # noqa: E402
from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.latency import LatencyLUT, get_target, measure_interleaved  # noqa: E402
from halp_graph.latency.sampler import QUICK_SAMPLING, SamplingConfig  # noqa: E402
from halp_graph.latency.timing import DEFAULT, MODEL, QUICK, QUICK_MODEL  # noqa: E402
from halp_graph.models import zoo  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.pruning.lut_calibration import CalibrationConfig, build_calibrated_lut  # noqa: E402
from halp_graph.solver import make_plan  # noqa: E402
from halp_graph.testing import random_plan  # noqa: E402

MODELS = ["resnet50", "mobilenet_v2", "efficientnet_b0", "regnet_y_400mf"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=None)
    p.add_argument("--plans", type=int, default=None, help="random plans per model (20)")
    p.add_argument("--resolution", type=int, default=None, help="input size (224)")
    p.add_argument("--target", default="cpu")
    p.add_argument("--statistic", choices=("median", "min"), default="median")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds per plan (12)")
    p.add_argument("--p-empty", type=float, default=0.0,
                   help="chance a plan empties a branch (0; random_plan's own default is 0.15)")
    p.add_argument("--p-single", type=float, default=0.0,
                   help="chance a plan keeps one channel in a group (0; random_plan's default 0.1)")
    p.add_argument("--candidate-plans", type=int, default=0,
                   help="also report fidelity on this many plans drawn from the LUT's candidate counts")
    p.add_argument("--lut-dir", default="benchmarks/out/luts", help="reuse/keep LUTs here")
    p.add_argument("--out", default="benchmarks/out/latency_fidelity.png")
    p.add_argument("--quick", action="store_true", help="smoke run: small models, few plans")
    args = p.parse_args()
    models = args.models or (["resnet18", "mobilenet_v2"] if args.quick else MODELS)
    plans = args.plans or (3 if args.quick else 20)
    resolution = args.resolution or (64 if args.quick else 224)
    rounds = args.rounds or (4 if args.quick else 12)
    target = get_target(args.target)
    os.makedirs(args.lut_dir, exist_ok=True)
    rows, summary = [], []
    for name in models:
        path = zoo.export(name, "legacy", resolution=resolution)
        model = load_model(path)
        groups = analyze(model)
        lut = _lut(path, name, resolution, target, args)
        cost = lut.cost_model(groups, statistic=args.statistic)
        print(f"\n{name} ({resolution}x{resolution}, target {target.name}): dense {cost.dense_cost():.3f} ms "
              f"in the LUT ({len(lut.entries)} entries)")
        kinds = [("random", [random_plan(groups, seed=seed, p_empty=args.p_empty, p_single=args.p_single)
                             for seed in range(plans)])]
        if args.candidate_plans:
            kinds.append(("candidate", [candidate_plan(groups, cost, seed)
                                        for seed in range(args.candidate_plans)]))
        for kind, drawn in kinds:
            errors = _fidelity(name, kind, drawn, model, groups, cost, target, rounds, args.statistic, rows)
            e = np.abs(errors)
            summary.append((name, kind, float(np.median(e)), float(e.max())))
            print(f"{name} ({kind} plans): median |error| {100 * np.median(e):.1f}%, worst {100 * e.max():.1f}%")
    print("\nmodel              plans       median |error|   worst |error|")
    for name, kind, med, worst in summary:
        print(f"{name:<18} {kind:<10} {100 * med:>13.1f}% {100 * worst:>14.1f}%")
    _plot([r for r in rows if r[3] == "random"], args.out, target)
    print(f"scatter plot: {args.out}")
    return 0


def candidate_plan(groups, cost, seed: int, p_touch: float = 0.7):
    """A plan such as a pruning run produces: each group left alone with probability
    1 - p_touch, else kept at one of the cost model's candidate counts (below full)."""
    rng = np.random.default_rng(1_000_000 + seed)
    counts = {}
    for group in groups.prunable():
        if rng.random() > p_touch:
            continue
        options = [c for c in cost.candidate_counts(group) if 0 < c < group.size]
        if options:
            counts[group.id] = int(rng.choice(options))
    scores = {gid: rng.random(groups[gid].size) for gid in counts}
    return make_plan(groups, scores, counts)


def _fidelity(name, kind, drawn, model, groups, cost, target, rounds, statistic, rows) -> list[float]:
    dense_lut = cost.dense_cost()
    print(f"{kind} plans")
    print(f"{'plan':>4} {'kept %':>7} {'predicted':>10} {'measured':>10} {'error':>7}")
    errors = []
    for seed, plan in enumerate(drawn):
        kept = plan.kept_counts(groups)
        pruned = prune_channels(model, plan, groups)
        predicted = predict(cost, groups, kept)
        dense_now, pruned_now = measure_interleaved([model, pruned], target, rounds=rounds)
        measured = pruned_now.value(statistic) / dense_now.value(statistic) * dense_lut
        error = predicted / measured - 1
        errors.append(error)
        share = 100 * sum(kept.values()) / max(1, sum(g.size for g in groups))
        rows.append((name, predicted, measured, kind))
        print(f"{seed:>4} {share:>6.1f}% {predicted:>9.3f}ms {measured:>9.3f}ms {100 * error:>+6.1f}%")
    return errors


def _lut(path: str, name: str, resolution: int, target, args) -> LatencyLUT:
    file = os.path.join(args.lut_dir, f"{name}_r{resolution}_{target.name}{'_quick' if args.quick else ''}.json")
    if os.path.exists(file):
        return LatencyLUT.load(file, target=target)
    start = time.monotonic()
    lut = build_calibrated_lut(path, target, sampling=QUICK_SAMPLING if args.quick else SamplingConfig(),
                               timing=QUICK if args.quick else DEFAULT,
                               model_timing=QUICK_MODEL if args.quick else MODEL, progress=True,
                               name=name, calibration=CalibrationConfig(plans=8, rounds=4)
                               if args.quick else CalibrationConfig())
    print(f"built {file} in {time.monotonic() - start:.0f} s")
    lut.save(file, force=True)
    return lut


def _plot(rows, out: str, target) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    names = list(dict.fromkeys(r[0] for r in rows))
    for name in names:
        pts = np.array([(r[2], r[1]) for r in rows if r[0] == name])
        ax.scatter(pts[:, 0], pts[:, 1], s=18, label=name)
    hi = max(max(r[1], r[2]) for r in rows) * 1.05
    lo = min(min(r[1], r[2]) for r in rows) * 0.9
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.fill_between([lo, hi], [lo * 0.95, hi * 0.95], [lo * 1.05, hi * 1.05], color="grey", alpha=0.15,
                    label="±5%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    from matplotlib.ticker import NullFormatter, ScalarFormatter
    ticks = [t for t in (0.1, 0.2, 0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500) if lo <= t <= hi]
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(ScalarFormatter())
        axis.set_minor_formatter(NullFormatter())
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("measured latency of the pruned model (ms)")
    ax.set_ylabel("LUT prediction (ms)")
    ax.set_title(f"Prediction fidelity, target {target.name}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
