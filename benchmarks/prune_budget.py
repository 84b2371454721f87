"""Does `prune` hit the budget? Six models, four budgets, ONNX Runtime CPU (1 thread).

For each model (torchvision, legacy export, 224x224, batch 1) and budget, run the whole
`prune` flow (LUT from the cache, built on first use; magnitude saliency; exact solver;
closed loop), then take a fresh measurement of the pruned model interleaved with the
dense one. The goal: the fresh median within 3% of the budget and never more than 3% over.
Also reports the end-to-end time of each `prune` call (LUT cached).

    python benchmarks/prune_budget.py [--models a,b] [--budgets 0.3,0.5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import progress, save_json, table  # noqa: E402

import halp_graph  # noqa: E402
from halp_graph.latency import get_target, measure_interleaved  # noqa: E402
from halp_graph.models import zoo  # noqa: E402

MODELS = ["resnet50", "mobilenet_v2", "efficientnet_b0", "regnet_y_400mf", "densenet121", "convnext_tiny"]
BUDGETS = [0.3, 0.5, 0.7, 0.9]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--fresh-rounds", type=int, default=20, help="interleaved rounds of the fresh measurement")
    ap.add_argument("--quick", action="store_true", help="resnet18 at 96x96, budgets 0.5 and 0.8")
    args = ap.parse_args()
    if args.quick:
        args.models, args.budgets, args.resolution = "resnet18", "0.5,0.8", 96
    target = get_target("cpu")
    rows = []
    for name in args.models.split(","):
        path = zoo.export(name, "legacy", resolution=args.resolution)
        for budget in [float(b) for b in args.budgets.split(",")]:
            progress(f"{name} budget {budget}")
            start = time.perf_counter()
            result = halp_graph.prune(path, target, budget)
            elapsed = time.perf_counter() - start
            report = result.report
            row = {"model": name, "budget": budget, "rounds": len(report["rounds"]),
                   "status": report["status"], "prune s": round(elapsed, 1), "LUT": report["lut"]["origin"],
                   "solve s": round(max(r["solve_time_s"] for r in report["rounds"]), 2),
                   "solver": report["rounds"][-1]["status"]}
            if result.model is None:
                rows.append(row)
                continue
            dense, pruned = measure_interleaved([path, result.model], target, rounds=args.fresh_rounds)
            fresh = pruned.median_ms / dense.median_ms
            err = (fresh - budget) / budget
            row.update({"loop x": round(report["latency"]["achieved"], 3), "fresh x": round(fresh, 3),
                        "error": f"{100 * err:+.1f}%", "within 3%": "yes" if abs(err) <= 0.03 else "NO",
                        "dense ms": round(dense.median_ms, 2), "pruned ms": round(pruned.median_ms, 2),
                        "saliency kept": f"{100 * report['saliency']['kept']:.0f}%",
                        "MACs": f"{report['macs_M']['pruned'] / report['macs_M']['dense']:.2f}x"})
            rows.append(row)
    cols = ["model", "budget", "status", "rounds", "loop x", "fresh x", "error", "within 3%",
            "dense ms", "pruned ms", "saliency kept", "MACs", "solver", "solve s", "prune s", "LUT"]
    hits = sum(r.get("within 3%") == "yes" for r in rows)
    print(table(rows, cols, f"{hits} of {len(rows)} runs within 3% of the budget (fresh measurement)"))
    save_json("prune_budget.json", rows)


if __name__ == "__main__":
    main()
