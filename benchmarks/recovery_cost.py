"""What loss-aware scoring and reconstruction cost, counted in the model's own inferences.

    python benchmarks/recovery_cost.py [--models resnet50,mobilenet_v2] [--samples 256]

For each model (torchvision zoo export at 224, legacy exporter, symbolic batch; random weights with
calibrated batch-norm statistics, as models/zoo.py builds them), with `--samples`
calibration images (natural-image views from scikit-image and scikit-learn photos,
efficientnet_lite0_images.py, cropped and flipped at several scales):

  1. dense inference: ONNX Runtime, 1 thread, batch 1, median of 10 runs (min too);
  2. loss-aware scores (halp_graph.saliency.loss_aware: twin build and check, Fisher
     pass, measured emptying of every non-cut group), torch on 1 thread;
  3. reconstruction (halp_graph.passes.reconstruct) of a plan keeping half of every
     prunable group (the loss-aware top half), torch on 1 thread.

Printed per model: seconds for 2 and 3, and their sum in units of 1. The issue's limit
is 5,000 inferences for resnet50 at 256 images. Writes benchmarks/out/recovery_cost.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import progress, save_json, table  # noqa: E402

from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.models import zoo  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.passes.reconstruct import reconstruct  # noqa: E402
from halp_graph.runtime import session  # noqa: E402
from halp_graph.saliency.loss_aware import loss_aware_scores  # noqa: E402
from halp_graph.samples import Samples  # noqa: E402
from halp_graph.solver import make_plan  # noqa: E402

from efficientnet_lite0_images import CALIBRATION, EVALUATION, views  # noqa: E402
from prune_alternatives import uniform_counts  # noqa: E402

MODELS = ["resnet50", "mobilenet_v2", "regnet_y_400mf", "resnet18"]


def images(count: int) -> np.ndarray:
    arr = views(CALIBRATION + EVALUATION, (256, 320), corners=True).numpy()
    reps = -(-count // len(arr))
    return np.concatenate([arr] * reps)[:count]


def inference_ms(model, x: np.ndarray, runs: int = 10) -> tuple[float, float]:
    sess = session(model, threads=1)
    name = sess.get_inputs()[0].name
    feed = {name: x[:1]}
    sess.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(1000 * (time.perf_counter() - t))
    return statistics.median(times), min(times)


def measure(name: str, count: int) -> dict:
    path = zoo.export(name, "legacy", resolution=224, dynamic_batch=True)
    model = load_model(path)
    groups = analyze(model)
    calib = Samples({model.proto.graph.input[0].name: images(count)}, None, "views")
    median_ms, min_ms = inference_ms(model, calib.arrays[next(iter(calib.arrays))])
    start = time.perf_counter()
    scores = loss_aware_scores(groups, model, calib)
    score_s = time.perf_counter() - start
    plan = make_plan(groups, scores.scores, uniform_counts(groups, 0.5))
    pruned = prune_channels(model, plan, groups)
    start = time.perf_counter()
    _, info = reconstruct(model, pruned, plan, calib, groups)
    recon_s = time.perf_counter() - start
    total = score_s + recon_s
    return {"model": name, "samples": count, "inference_ms": round(median_ms, 2), "inference_min_ms": round(min_ms, 2),
            "scoring_s": round(score_s, 1), "reconstruction_s": round(recon_s, 1),
            "layers_refitted": len(info["layers"]),
            "inferences": round(1000 * total / median_ms), "scoring_detail_s": scores.seconds}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--samples", type=int, default=256)
    args = ap.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        progress(name)
        rows.append(measure(name, args.samples))
        progress(str(rows[-1]))
    cpu = platform.processor() or platform.machine()
    print(table(rows, ["model", "samples", "inference_ms", "inference_min_ms", "scoring_s",
                       "reconstruction_s", "layers_refitted", "inferences"],
                title=f"Loss-aware scoring + reconstruction cost ({cpu}, torch and ONNX Runtime on 1 thread)"))
    save_json("recovery_cost.json", {"rows": rows, "cpu": cpu})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
