"""EfficientNet-lite0 (ImageNet weights) pruned one-shot from its ONNX export, no labels and
no training: top-1 agreement with the dense network on held-out natural-image views, at
budgets of its measured latency.

    python benchmarks/efficientnet_lite0_fidelity.py [--budgets 0.9,0.7,0.5] [--exporter legacy]

The pretrained network (efficientnet_lite0_model.py) is exported to ONNX; `halp_graph.prune`
then runs on the file as a user would (target cpu: ONNX Runtime, 1 thread, batch 1; the
latency LUT is built or taken from the cache). Evaluation: the 160 views of
efficientnet_lite0_images.evaluation_views (8 photos, 5 crops x 2 flips at short sides
256 and 320). Calibration (`--calibration`):

  * other-views (default): 160 random 224x224 crops, randomly flipped, of the same 8
    photos resized to short sides 224, 288 and 352: no calibration view is an evaluation
    view, but they show the same scenes, as a deployment's calibration images would;
  * other-images: the 5 crops x 2 flips at three scales of 8 other images bundled with
    scikit-image (mostly textures: grass, gravel, brick, the moon, coins, the Hubble deep
    field, a retina, the other motorcycle view), 240 views: a domain the network and the
    evaluation photos do not share.

Rows per saliency: the rewritten model as chosen, and after reconstruction. Writes
benchmarks/out/efficientnet_lite0_fidelity_<calibration>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import out_path, progress, save_json, table  # noqa: E402

import halp_graph  # noqa: E402
from halp_graph.latency import get_target  # noqa: E402
from halp_graph.samples import Samples  # noqa: E402

from efficientnet_lite0_images import CALIBRATION, EVALUATION, evaluation_views, load, views  # noqa: E402
from efficientnet_lite0_model import pretrained  # noqa: E402


def export(exporter: str) -> str:
    from halp_graph.torch import export_onnx
    import torch

    path = out_path(f"efficientnet_lite0_{exporter}.onnx")
    if not os.path.exists(path):
        export_onnx(pretrained().eval(), torch.zeros(1, 3, 224, 224), path, exporter=exporter,
                    dynamic_batch=True)
    return path


def other_views(count: int = 160, seed: int = 0) -> np.ndarray:
    """Random crops of the evaluation photos at scales the evaluation views do not use."""
    from efficientnet_lite0_images import _resize_short
    from efficientnet_lite0_model import IMAGE_SIZE, normalize
    import torch

    rng = np.random.default_rng(seed)
    out = []
    per = count // len(EVALUATION)
    for name in EVALUATION:
        img = load(name)
        scaled = {s: _resize_short(img, s) for s in (224, 288, 352)}
        for _ in range(per):
            pic = scaled[int(rng.choice(list(scaled)))]
            top = int(rng.integers(0, pic.shape[0] - IMAGE_SIZE + 1))
            left = int(rng.integers(0, pic.shape[1] - IMAGE_SIZE + 1))
            crop = pic[top:top + IMAGE_SIZE, left:left + IMAGE_SIZE]
            out.append(crop[:, ::-1] if rng.random() < 0.5 else crop)
    arr = np.stack(out).transpose(0, 3, 1, 2).astype(np.float32)
    return normalize(torch.from_numpy(np.ascontiguousarray(arr))).numpy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", default="0.9,0.7,0.5")
    ap.add_argument("--saliency", default="loss-aware,activation")
    ap.add_argument("--exporter", default="legacy", choices=["legacy", "dynamo"])
    ap.add_argument("--calibration", default="other-views", choices=["other-views", "other-images"])
    args = ap.parse_args(argv)
    model = export(args.exporter)
    if args.calibration == "other-views":
        calib = Samples({"input": other_views()}, None, "other views of the evaluation photos (160)")
    else:
        calib = Samples({"input": views(CALIBRATION, (256, 288, 320), corners=True).numpy()}, None,
                        "views of other images (240)")
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
                title=f"EfficientNet-lite0 ({args.exporter} export, calibration: {args.calibration}), "
                      f"top-1 agreement with the dense model"))
    save_json(f"efficientnet_lite0_fidelity_{args.calibration}.json",
              {"rows": rows, "exporter": args.exporter, "calibration": args.calibration})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
