"""EfficientNet-lite0 (ImageNet weights) pruned one-shot, no fine-tuning: how often does the
slim network still agree with the dense one, and how much faster is it?

    python benchmarks/efficientnet_lite0_oneshot.py [--budgets 0.9 0.8 0.7] [--quick]

1. The pretrained network (efficientnet_lite0_model.py) is captured twice: with torch.fx
   (halp_graph.torch.module_groups) and through an ONNX export (halp_graph.graph.analyze);
   the two must find the same groups, layer by layer (dynamo export).
2. Saliency: weight magnitude (data-free) and mean |activation| over calibration images.
3. For each latency budget (fraction of the dense model's latency, priced by a latency
   LUT built on the export for ONNX Runtime CPU, 1 thread; `--cost macs` prices MACs
   instead), saliency and scope, the exact solver picks the channels; the module is
   slimmed in place (a copy), exported, and checked against the ONNX rewrite of the same
   plan on the dense export (max |difference| reported).
   Scopes: "all" prunes every prunable group but keeps at least half of each; "hidden"
   prunes only the groups that are not graph cuts (the MBConv expansions and the head),
   leaving the residual streams whole. Without fine-tuning, a stream channel removed
   early in the network is felt everywhere after it: dropping one channel of the
   24-channel stream alone changed 7 of 16 probe predictions.
4. Top-1 agreement with the dense network on natural images bundled with scikit-image
   and scikit-learn, each seen as 5 crops x 2 flips at two scales; the measured latency
   (dynamo export, ONNX Runtime CPU, 1 thread, batch 1, thread CPU time) gives the
   speedup.

Evaluation and calibration images are disjoint. Writes benchmarks/out/efficientnet_lite0_oneshot.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time

import numpy as np
import torch

from halp_graph.cost_model import MacsCostModel
from halp_graph.graph import analyze
from halp_graph.passes import prune_channels
from halp_graph.runtime import session
from halp_graph.torch import (activation_saliency, export_onnx, magnitude_saliency, match_groups,
                              module_groups, select, slim_module, translate_plan)
from halp_graph.latency.timing import MODEL, QUICK_MODEL

from _common import cpu_latency_ms
from efficientnet_lite0_images import calibration_views, evaluation_views
from efficientnet_lite0_model import IMAGE_SIZE, pretrained

HERE = os.path.dirname(os.path.abspath(__file__))


def predict(model_onnx, views: torch.Tensor, batch: int = 16) -> np.ndarray:
    """Logits of an ONNX model (exported with a symbolic batch) on the views."""
    sess = session(model_onnx)
    name = sess.get_inputs()[0].name
    out = [sess.run(None, {name: views[i:i + batch].numpy()})[0] for i in range(0, len(views), batch)]
    return np.concatenate(out)


def capture_report(groups, dense_onnx) -> dict:
    onnx_groups = analyze(dense_onnx)
    mapping = match_groups(groups.groups, onnx_groups)
    agree = all((groups[a].size, groups[a].prunable, groups[a].cut) ==
                (onnx_groups[b].size, onnx_groups[b].prunable, onnx_groups[b].cut) for a, b in mapping.items())
    return {"fx_groups": len(groups), "fx_prunable": len(groups.prunable()),
            "onnx_groups": len(onnx_groups), "onnx_prunable": len(onnx_groups.prunable()),
            "matched": len(mapping), "group_by_group_equal": agree,
            "prunable_channels": sum(g.size for g in groups.prunable())}, onnx_groups


def evaluate_plan(model, example, groups, onnx_groups, dense_onnx, plan, eval_views, dense_top1,
                  dense_ms, timing) -> dict:
    """Slim a copy by `plan`, check it against the ONNX rewrite, measure agreement and speed."""
    slim = copy.deepcopy(model)
    slim_groups = module_groups(slim, example)
    slim_module(slim_groups, plan)
    slim_onnx = export_onnx(slim, example, exporter="dynamo", dynamic_batch=True)
    rewritten = prune_channels(dense_onnx, translate_plan(plan, groups.groups, onnx_groups), onnx_groups)
    diff = float(np.abs(predict(slim_onnx, eval_views[:4]) - predict(rewritten, eval_views[:4])).max())
    logits = predict(slim_onnx, eval_views)
    ms = cpu_latency_ms(slim_onnx, batch=1, timing=timing)
    top5 = np.argsort(-logits, 1)[:, :5]
    kept = plan.kept_counts(groups.groups)
    return {"mmacs": MacsCostModel(module_groups(slim, example).groups).dense_cost(),
            "agreement_top1": float((logits.argmax(1) == dense_top1).mean() * 100),
            "dense_top1_in_top5": float(np.mean([d in t5 for d, t5 in zip(dense_top1, top5)]) * 100),
            "latency_ms": ms, "speedup": dense_ms / ms,
            "channels_kept": sum(kept[g.id] for g in groups.prunable()),
            "slim_vs_onnx_rewrite_max_abs": diff}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="one-shot pruning of pretrained EfficientNet-lite0")
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.9, 0.8, 0.7])
    ap.add_argument("--cost", choices=["lut", "macs"], default="lut",
                    help="budgets in measured latency through a LUT (default) or in MACs")
    ap.add_argument("--granularity", type=int, default=16, help="with --cost macs: candidate counts")
    ap.add_argument("--scopes", nargs="+", default=["hidden", "all"], choices=["hidden", "all"])
    ap.add_argument("--quick", action="store_true", help="fewer views and latency rounds")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    timing = QUICK_MODEL if args.quick else MODEL

    model = pretrained()
    example = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    eval_views = evaluation_views(scales=(256,) if args.quick else (256, 320))
    calib_views = calibration_views()
    print(f"{len(eval_views)} evaluation views, {len(calib_views)} calibration views", flush=True)

    groups = module_groups(model, example)
    dense_onnx = export_onnx(model, example, exporter="dynamo", dynamic_batch=True)
    capture, onnx_groups = capture_report(groups, dense_onnx)
    print("capture:", capture, flush=True)
    dense_logits = predict(dense_onnx, eval_views)
    dense_top1 = dense_logits.argmax(1)
    dense_ms = cpu_latency_ms(dense_onnx, batch=1, timing=timing)
    macs = MacsCostModel(groups.groups)
    if args.cost == "lut":
        from halp_graph.latency import QUICK_SAMPLING, SamplingConfig, get_target
        from halp_graph.pruning.lut_calibration import build_calibrated_lut
        from halp_graph.torch import OnnxPricedCostModel
        lut = build_calibrated_lut(dense_onnx, get_target("cpu"),
                                   sampling=QUICK_SAMPLING if args.quick else SamplingConfig())
        cost = OnnxPricedCostModel(groups.groups, onnx_groups, lut.cost_model(onnx_groups))
    else:
        cost = MacsCostModel(groups.groups, granularity=args.granularity)
    print(f"dense: {macs.dense_cost():.0f} MMAC, {dense_ms:.2f} ms measured, "
          f"{cost.dense_cost():.2f} {cost.unit} in the cost model", flush=True)

    t = time.time()
    saliencies = {"magnitude": magnitude_saliency(groups),
                  "activation": activation_saliency(groups, calib_views.split(16))}
    print(f"saliency computed in {time.time() - t:.0f}s", flush=True)

    rows = []
    for budget in args.budgets:
        for scope in args.scopes:
            for kind, scores in saliencies.items():
                if scope == "hidden":
                    scores = {gid: v for gid, v in scores.items() if not groups[gid].cut}
                plan = select(groups, cost, scores, budget * cost.dense_cost(),
                              min_keep_fraction=0.5 if scope == "all" else 0.0)
                row = {"budget": budget, "scope": scope, "saliency": kind,
                       **evaluate_plan(model, example, groups, onnx_groups, dense_onnx, plan,
                                       eval_views, dense_top1, dense_ms, timing)}
                rows.append(row)
                print(f"  budget {budget:.0%} {scope:<6} {kind:<10} agreement {row['agreement_top1']:5.1f}%  "
                      f"(top-5 {row['dense_top1_in_top5']:5.1f}%)  {row['latency_ms']:6.2f} ms  "
                      f"x{row['speedup']:.2f}  |slim - rewrite| {row['slim_vs_onnx_rewrite_max_abs']:.1e}",
                      flush=True)
    result = {"capture": capture, "dense_ms": dense_ms, "dense_mmacs": macs.dense_cost(), "cost": args.cost,
              "views": len(eval_views), "rows": rows, "quick": args.quick}
    with open(os.path.join(args.out, "efficientnet_lite0_oneshot.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(markdown_table(result))
    return 0


def markdown_table(result: dict) -> str:
    lines = [f"dense: {result['dense_mmacs']:.0f} MMAC, {result['dense_ms']:.2f} ms; "
             f"{result['views']} views",
             f"| {'latency' if result.get('cost', 'lut') == 'lut' else 'MACs'} budget | groups | saliency "
             "| top-1 agreement (%) | dense top-1 in top-5 (%) | MMAC | latency (ms) | speedup |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['budget']:.0%} | {r['scope']} | {r['saliency']} | {r['agreement_top1']:.1f} | "
                     f"{r['dense_top1_in_top5']:.1f} | {r['mmacs']:.0f} | {r['latency_ms']:.2f} | "
                     f"{r['speedup']:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
