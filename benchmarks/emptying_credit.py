"""What emptying one group saves, measured, against what the knapsack predicts for it.

For every group the solver may empty (a timm or torchvision export at 224, legacy
exporter), the model with that group alone emptied is timed interleaved with the dense
model (ONNX Runtime CPU, 1 thread, median over rounds), and the measured saving is set
beside the problem's predicted saving with and without the emptying credit
(halp_graph.pruning.emptying_credit). LUT from prune's cache, built on first use.

    python benchmarks/emptying_credit.py --models timm:mobilevit_xs,resnet50 [--groups 12]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import progress, save_json, table  # noqa: E402

from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.latency import get_target, measure_interleaved  # noqa: E402
from halp_graph.models import zoo  # noqa: E402
from halp_graph.passes import prune_channels, pruned_structure  # noqa: E402
from halp_graph.plan import PruningPlan  # noqa: E402
from halp_graph.pruning.emptying_credit import emptying_credits, with_emptying_credits  # noqa: E402
from halp_graph.pruning.lut_source import cached_or_built  # noqa: E402
from halp_graph.solver import build_problem  # noqa: E402


def run(name: str, limit: int, rounds: int) -> list[dict]:
    path = zoo.export(name, "legacy", resolution=224)
    model = load_model(path)
    groups = analyze(model)
    target = get_target("cpu")
    cost_model = cached_or_built(model, groups, target, progress=True).cost_model
    ones = {g.id: np.ones(g.size) for g in groups.prunable()}  # the costs do not depend on the values
    problem = build_problem(groups, cost_model, ones, 0.0)
    credits = emptying_credits(problem, groups, lambda plan: pruned_structure(model, plan, groups), cost_model)
    credited = with_emptying_credits(problem, credits)
    emptiable = [gid for gid, counts in problem.counts.items() if int(counts[0]) == 0][:limit]
    models = [model] + [prune_channels(model, PruningPlan({gid: []}), groups) for gid in emptiable]
    timings = measure_interleaved(models, target, rounds=rounds)
    dense = timings[0].median_ms
    rows = []
    for gid, timing in zip(emptiable, timings[1:]):
        emptied = dict(problem.full(), **{gid: 0})
        rows.append({"model": name, "group": gid, "size": groups[gid].size,
                     "measured ms": round(dense - timing.median_ms, 2),
                     "predicted ms": round(problem.dense_cost - problem.cost(emptied), 2),
                     "with credit ms": round(credited.dense_cost - credited.cost(emptied), 2),
                     "dense ms": round(dense, 2)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="timm:mobilevit_xs,resnet50")
    ap.add_argument("--groups", type=int, default=12, help="emptiable groups timed per model (first ones)")
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    rows = []
    for name in args.models.split(","):
        progress(name)
        rows += run(name, args.groups, args.rounds)
    for r in rows:
        r["error before"] = f"{r['predicted ms'] - r['measured ms']:+.2f}"
        r["error after"] = f"{r['with credit ms'] - r['measured ms']:+.2f}"
    cols = ["model", "group", "size", "dense ms", "measured ms", "predicted ms", "with credit ms",
            "error before", "error after"]
    print(table(rows, cols, "Saving of emptying one group: measured, and predicted without and with the credit"))
    save_json("emptying_credit.json", rows)


if __name__ == "__main__":
    main()
