"""Rewrite coverage over the torchvision classification zoo, under both exporters.

For every model that exports: how many groups the rewrite prunes; the equivalence check
(halp_graph.equivalence: per output max |pruned - masked| <= 1e-4 * max |masked| + 1e-7)
of a half plan and two random plans, each against the channel-masked original: the largest
abs error, the smallest output scale max |masked| (below 1e-6 the check is vacuous: it
proves nothing and is not counted as a pass) and the largest error/tolerance ratio (a model
with no prunable group is listed as "nothing to prune": its plans change nothing); the
onnx.checker full-check result; and ONNX Runtime latency (CPU, 1 thread, median, the two
models timed interleaved) of the model with half of every prunable group removed, against
the original. With `--prune BUDGET`, also `halp_graph.prune(export, "cpu", BUDGET)` (LUT
built or taken from prune's cache, the closed loop measuring each round): the measured
latency ratio, the rounds and the status (minutes per model: it builds a latency table);
prune's progress, every round included, goes to stderr.

    python benchmarks/rewrite_coverage.py [--exporters legacy,dynamo] [--models a,b] [--no-latency]
    python benchmarks/rewrite_coverage.py --zoo timm --models timm:resnet18 --no-latency --prune 0.6
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import add_zoo_arguments, over_zoo, prune_cells, save_json, table  # noqa: E402

import halp_graph  # noqa: E402
from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.latency import get_target, measure_interleaved  # noqa: E402
from halp_graph.models import zoo  # noqa: E402
from halp_graph.onnx_io import check_full  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.plan import PruningPlan  # noqa: E402
from halp_graph.equivalence import check_equivalence  # noqa: E402
from halp_graph.testing import random_plan  # noqa: E402


def half_plan(groups) -> PruningPlan:
    """Keep the first half of every prunable group (rounded to its step, at least min_keep)."""
    keep = {}
    for g in groups.prunable():
        per = g.size // g.blocks
        count = max(per // 2, 1)
        step = max(1, g.divisor // g.blocks)
        count = max(step, count - count % step)
        keep[g.id] = [b * per + i for b in range(g.blocks) for i in range(count)]
    return PruningPlan(keep)


def run(name: str, exporter: str, resolution: int, latency: bool, budget: float | None = None) -> dict:
    path = zoo.export(name, exporter, resolution=resolution)
    model = load_model(path)
    groups = analyze(model)
    plans = [half_plan(groups), random_plan(groups, seed=1), random_plan(groups, seed=2)]
    checks, pruned_half, checker = [], None, "pass"
    for i, plan in enumerate(plans):
        pruned = prune_channels(model, plan, groups, check=False)
        try:
            check_full(pruned)
        except Exception as exc:
            checker = f"FAIL: {exc}"
        checks.append(check_equivalence(model, pruned, plan, groups, batch=1))
        if i == 0:
            pruned_half = pruned
    row = {"model": name, "exporter": exporter, "groups pruned": len(plans[0].keep),
           "of groups": len(groups),
           "equivalence": equivalence_cell(checks) if groups.prunable() else "nothing to prune",
           "max abs err": f"{max(c.max_abs for c in checks):.1e}",
           "min scale": f"{min(c.scale for c in checks):.2g}",
           "err/tol": f"{max(c.ratio for c in checks):.2g}", "checker": checker,
           "checks": [c.summary() for c in checks]}
    if budget is not None and groups.prunable():
        row.update(prune_row(path, budget))
    if latency:
        dense, half = measure_interleaved([model, pruned_half], get_target("cpu"), rounds=8)
        row.update({"dense ms": round(dense.median_ms, 2), "half ms": round(half.median_ms, 2),
                    "speedup": f"{dense.median_ms / half.median_ms:.2f}x"})
    return row


def prune_row(path: str, budget: float) -> dict:
    """The product's prune of the export to `budget` of its CPU latency: measured ratio
    (of the kept round, timed interleaved with the dense model), rounds and status."""
    t = time.perf_counter()
    report = halp_graph.prune(path, "cpu", budget, progress=True).report
    return {**prune_cells(report), "prune s": round(time.perf_counter() - t)}


def equivalence_cell(checks) -> str:
    """The table cell: pass when every plan is equivalent, else the status of each plan
    that is not (plan 0: the half plan, 1 and 2: the random ones)."""
    bad = [f"plan {i} {c.status}" for i, c in enumerate(checks) if not c.ok]
    return "pass" if not bad else "; ".join(bad)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_zoo_arguments(ap)
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--prune", type=float, default=None, metavar="BUDGET",
                    help="also prune each export to this share of its CPU latency (slow)")
    args = ap.parse_args()
    rows, failures = over_zoo(args, lambda name, exporter: run(name, exporter, args.resolution,
                                                             not args.no_latency, args.prune))
    cols = ["model", "exporter", "groups pruned", "of groups", "equivalence", "max abs err",
            "min scale", "err/tol", "checker"]
    if args.prune is not None:
        cols += ["prune", "ratio", "rounds", "prune s"]
    if not args.no_latency:
        cols += ["dense ms", "half ms", "speedup"]
    passed = sum(r["equivalence"] == "pass" and r["checker"] == "pass" for r in rows)
    idle = sum(r["equivalence"] == "nothing to prune" for r in rows)
    print(table(rows, cols, f"{passed} of {len(rows)} exports pass the equivalence check "
                            f"(not vacuous) and onnx.checker"
                            + (f"; {idle} with nothing to prune (their plans change nothing: not counted)"
                               if idle else "")))
    short = [r for r in rows if r["equivalence"] != "pass" or r["checker"] != "pass"]
    if short:
        print(table(short, ["model", "exporter", "equivalence", "checker"],
                    "Vacuous, not equivalent or failing onnx.checker"))
    if failures:
        print(table(failures, ["model", "exporter", "cause"], "Failures"))
    save_json("rewrite_coverage.json", {"rows": rows, "failures": failures})


if __name__ == "__main__":
    main()
