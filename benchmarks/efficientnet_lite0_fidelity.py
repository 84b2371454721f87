"""EfficientNet-lite0 (ImageNet weights) pruned one-shot from its ONNX export, no labels and
no training: top-1 agreement with the dense network on held-out natural-image views, at
budgets of its measured latency.

    python benchmarks/efficientnet_lite0_fidelity.py [--budgets 0.9,0.7,0.5] [--exporter legacy]

The pretrained network (efficientnet_lite0_model.py) is exported to ONNX; `halp_graph.prune`
then runs on the file as a user would (target cpu: ONNX Runtime, 1 thread, batch 1; the
latency LUT is built or taken from the cache), with calibration views of one set of
natural images (efficientnet_lite0_images.calibration_views: 8 images, 5 crops x 2 flips
at three scales, 240 views) and evaluation views of another set (8 images, 5 crops x 2
flips at two scales, 160 views). Rows per saliency: the rewritten model as chosen, and
after reconstruction. Writes benchmarks/out/efficientnet_lite0_fidelity.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import out_path, progress, save_json, table  # noqa: E402

import halp_graph  # noqa: E402
from halp_graph.latency import get_target  # noqa: E402
from halp_graph.samples import Samples  # noqa: E402

from efficientnet_lite0_images import CALIBRATION, evaluation_views, views  # noqa: E402
from efficientnet_lite0_model import pretrained  # noqa: E402


def export(exporter: str) -> str:
    from halp_graph.torch import export_onnx
    import torch

    path = out_path(f"efficientnet_lite0_{exporter}.onnx")
    if not os.path.exists(path):
        export_onnx(pretrained().eval(), torch.zeros(1, 3, 224, 224), path, exporter=exporter,
                    dynamic_batch=True)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="0.9,0.7,0.5")
    ap.add_argument("--saliency", default="loss-aware,activation")
    ap.add_argument("--exporter", default="legacy", choices=["legacy", "dynamo"])
    args = ap.parse_args(argv)
    model = export(args.exporter)
    calib = Samples({"input": views(CALIBRATION, (256, 288, 320), corners=True).numpy()}, None,
                    "calibration views (240)")
    evaluation = Samples({"input": evaluation_views().numpy()}, None, "evaluation views (160)")
    target = get_target("cpu")
    rows = []
    for budget in (float(b) for b in args.budgets.split(",")):
        for saliency in args.saliency.split(","):
            progress(f"budget {budget}: {saliency}")
            start = time.perf_counter()
            result = halp_graph.prune(model, target, budget, saliency=saliency, calib=calib,
                                      eval_data=evaluation, reconstruct=True, progress=True)
            rep = result.report
            for stage, label in (("before_reconstruction", saliency), ("final", f"{saliency} + reconstruction")):
                f = rep["fidelity"][stage]
                rows.append({"budget": budget, "method": label, "latency": rep["latency"]["achieved"],
                             "agreement": 100 * f["agreement"], "kl": f["kl"],
                             "emptied": len(rep["emptied"]), "seconds": round(time.perf_counter() - start, 1),
                             "saliency_s": rep["timings_s"].get("saliency"),
                             "reconstruction_s": rep["timings_s"].get("reconstruction")})
    print(table(rows, ["budget", "method", "latency", "agreement", "kl", "emptied", "saliency_s",
                       "reconstruction_s", "seconds"],
                title=f"EfficientNet-lite0 ({args.exporter} export), top-1 agreement with the dense model"))
    save_json("efficientnet_lite0_fidelity.json", {"rows": rows, "exporter": args.exporter})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
