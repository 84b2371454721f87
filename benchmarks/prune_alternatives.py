"""HALP's exact knapsack against the usual alternatives, at the same measured latency.

For each model and budget, `prune` (LUT, magnitude saliency, exact solver, closed loop)
sets the latency to match. Each alternative is then tuned by bisection on its own knob,
measuring every candidate on the target, until it runs at that same latency:

* uniform: the same fraction of every prunable group (rounded to the group's step);
* global magnitude (Torch-Pruning style): one threshold on the group-normalised
  magnitude score across all groups, keeping at least the minimum each group needs;
* global magnitude, rounded to 16: the same, each group's kept count rounded to a
  multiple of 16 (Torch-Pruning's round_to=16).

All plans are rewritten by our pass and measured interleaved with the dense model.
Printed: measured latency (fraction of dense), saliency kept (same scores for all), MACs.
A plot of saliency kept against latency goes to benchmarks/out/prune_alternatives.png.

    python benchmarks/prune_alternatives.py [--models a,b] [--budgets 0.5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import out_path, progress, save_json, table  # noqa: E402

import halp_graph  # noqa: E402
from halp_graph.cost_model import MacsCostModel, predict  # noqa: E402
from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.latency import get_target, measure_interleaved  # noqa: E402
from halp_graph.models import zoo  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.saliency import score  # noqa: E402
from halp_graph.solver import make_plan  # noqa: E402

MODELS = ["resnet50", "mobilenet_v2", "efficientnet_b0", "regnet_y_400mf", "densenet121", "convnext_tiny"]


def round_count(group, count: float, multiple: int = 1) -> int:
    """A kept count for `group`: a multiple of its step (and of `multiple` when the group
    is big enough), at least its minimum, at most its size."""
    step = int(np.lcm(group.step, multiple)) if group.size >= multiple else group.step
    c = int(round(count / step)) * step
    return int(min(group.size, max(c, group.min_keep if group.min_keep else 0, step if group.cut else 0)))


def uniform_counts(groups, fraction: float) -> dict:
    return {g.id: round_count(g, fraction * g.size) for g in groups.prunable()}


def global_counts(groups, scores, threshold: float, multiple: int = 1) -> dict:
    counts = {}
    for g in groups.prunable():
        kept = int((scores[g.id] >= threshold).sum())
        counts[g.id] = round_count(g, kept, multiple)
    return counts


def bisect(make_counts, lo: float, hi: float, measure, goal: float, increasing: bool, steps: int):
    """Find the knob whose plan measures closest to `goal` (latency is monotone in it)."""
    best = None
    for _ in range(steps):
        mid = (lo + hi) / 2
        counts = make_counts(mid)
        frac = measure(counts)
        if best is None or abs(frac - goal) < abs(best[1] - goal):
            best = (counts, frac)
        if (frac < goal) == increasing:
            lo = mid
        else:
            hi = mid
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--budgets", default="0.5")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--steps", type=int, default=8, help="bisection steps per alternative")
    ap.add_argument("--quick", action="store_true", help="resnet18 at 96x96, budget 0.5, 5 steps")
    args = ap.parse_args()
    if args.quick:
        args.models, args.budgets, args.resolution, args.steps = "resnet18", "0.5", 96, 5
    target = get_target("cpu")
    rows = []
    for name in args.models.split(","):
        path = zoo.export(name, "legacy", resolution=args.resolution)
        model = load_model(path)
        groups = analyze(model)
        scores = score(groups, model, method="magnitude")
        total = sum(float(s.sum()) for s in scores.values())
        macs = MacsCostModel(groups)

        def evaluate(counts, rounds=6):
            plan = make_plan(groups, scores, counts)
            pruned = prune_channels(model, plan, groups)
            dense, slim = measure_interleaved([model, pruned], target, rounds=rounds)
            return slim.median_ms / dense.median_ms, pruned

        def describe(method, counts, frac):
            kept = {g.id: counts.get(g.id, g.size) for g in groups}
            saliency = sum(float(np.sort(scores[g])[::-1][:kept[g]].sum()) for g in scores)
            return {"model": name, "method": method, "latency x": round(frac, 3),
                    "saliency kept": round(saliency / total, 3),
                    "MACs x": round(predict(macs, groups, kept) / macs.dense_cost(), 3)}

        all_scores = np.concatenate([scores[g.id] for g in groups.prunable()])
        for budget in [float(b) for b in args.budgets.split(",")]:
            progress(f"{name} budget {budget}: HALP")
            result = halp_graph.prune(model, target, budget)
            if result.plan is None:
                rows.append({"model": name, "method": "HALP (exact)", "budget": budget,
                             "latency x": "infeasible"})
                continue
            counts = {g.id: result.report["groups"][g.id]["kept"] for g in groups.prunable()}
            goal, _ = evaluate(counts, rounds=15)
            rows.append(dict(describe("HALP (exact)", counts, goal), budget=budget))
            measure = lambda c: evaluate(c)[0]  # noqa: E731
            alternatives = {
                "uniform": (lambda f: uniform_counts(groups, f), 0.0, 1.0, True),
                "global magnitude": (lambda q: global_counts(groups, scores, np.quantile(all_scores, q)),
                                     0.0, 1.0, False),
                "global magnitude, round 16": (lambda q: global_counts(groups, scores,
                                                                       np.quantile(all_scores, q), 16),
                                               0.0, 1.0, False),
            }
            for method, (make, lo, hi, increasing) in alternatives.items():
                progress(f"{name} budget {budget}: {method}")
                counts_alt, frac = bisect(make, lo, hi, measure, goal, increasing, args.steps)
                frac, _ = evaluate(counts_alt, rounds=15)
                rows.append(dict(describe(method, counts_alt, frac), budget=budget))
    cols = ["model", "budget", "method", "latency x", "saliency kept", "MACs x"]
    print(table(rows, cols, "Saliency kept at (about) the same measured latency; higher is better"))
    save_json("prune_alternatives.json", rows)
    plot(rows)


def plot(rows) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        progress("matplotlib is not installed: no plot")
        return
    models = list(dict.fromkeys(r["model"] for r in rows))
    ncols = min(3, len(models))
    nrows = -(-len(models) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    markers = {"HALP (exact)": "o", "uniform": "s", "global magnitude": "^", "global magnitude, round 16": "v"}
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, models):
        for method, marker in markers.items():
            pts = [(r["latency x"], r["saliency kept"]) for r in rows
                   if r["model"] == name and r["method"] == method and isinstance(r["latency x"], float)]
            if pts:
                ax.scatter(*zip(*pts), marker=marker, label=method, s=40)
        ax.set_title(name)
        ax.set_xlabel("measured latency (fraction of dense)")
        ax.set_ylabel("saliency kept")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Saliency kept at the measured latency (ONNX Runtime CPU, 1 thread, batch 1)", fontsize=10)
    fig.tight_layout()
    path = out_path("prune_alternatives.png")
    fig.savefig(path, dpi=110)
    progress(f"plot: {path}")


if __name__ == "__main__":
    main()
