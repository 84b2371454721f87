"""One-shot pruning that keeps the model working: test accuracy against measured latency,
without labels and without training, on the trained Fashion-MNIST networks.

    python benchmarks/fidelity_oneshot.py                                  # the ResNet
    python benchmarks/fidelity_oneshot.py --model models/fmnist_mobilenet.onnx
    python benchmarks/fidelity_oneshot.py --budgets 0.5 --skip-baselines   # quicker

For each budget (a fraction of the dense model's measured latency on this CPU, ONNX
Runtime, 1 thread, batch 32), `halp_graph.prune` runs with the 512 unlabelled training
images of models/fmnist_calib.npz as calibration data and the 10,000 test images (labels
used for scoring the result only) as evaluation data, once per saliency:

  * magnitude, activation, loss-aware: the rewritten model as the knapsack chose it;
  * each + reconstruction: the same plan after ReconstructPass refitted its layers;

and the peers, tuned by bisection to land at the latency HALP's loss-aware run measured:
onnxsim 0.8's structured Wanda pruning and Torch-Pruning-style global magnitude
(benchmarks/oneshot_baselines.py). Every latency is measured interleaved with the dense
model. Printed: a markdown table; written: benchmarks/out/fidelity_oneshot_<model>.json and
a plot of accuracy against measured latency (benchmarks/out/fidelity_oneshot_<model>.png).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import out_path, progress, save_json, table  # noqa: E402

import halp_graph  # noqa: E402
from halp_graph.latency import get_target  # noqa: E402
from halp_graph.models.fmnist_data import load_split  # noqa: E402
from halp_graph.samples import Samples  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CALIB = os.path.join(HERE, "..", "models", "fmnist_calib.npz")
SALIENCIES = ("magnitude", "activation", "loss-aware")


def halp_rows(model: str, budget: float, target, test: Samples) -> list[dict]:
    rows = []
    for saliency in SALIENCIES:
        progress(f"budget {budget}: {saliency}")
        start = time.perf_counter()
        result = halp_graph.prune(model, target, budget, saliency=saliency, calib=CALIB,
                                  eval_data=test, reconstruct=True)
        seconds = time.perf_counter() - start
        rep = result.report
        ratio = rep["latency"]["achieved"]
        fid = rep["fidelity"]
        for stage, label in (("before_reconstruction", saliency), ("final", f"{saliency} + reconstruction")):
            f = fid[stage]
            rows.append({"budget": budget, "method": label, "latency": ratio,
                         "accuracy": 100 * f["accuracy"]["pruned"], "agreement": 100 * f["agreement"],
                         "kl": f["kl"], "emptied": len(rep["emptied"]), "rounds": len(rep["rounds"]),
                         "seconds": round(seconds, 1),
                         "saliency_s": rep["timings_s"].get("saliency"),
                         "reconstruction_s": rep["timings_s"].get("reconstruction"),
                         "dense_accuracy": 100 * f["accuracy"]["dense"]})
    return rows


def baseline_rows(model: str, budget: float, goal_ratio: float, target, images, labels) -> list[dict]:
    import oneshot_baselines as ob

    calib = np.load(CALIB)["input"]
    rows = []
    makers = {"onnxsim structured Wanda": lambda k: ob.onnxsim_wanda(model, k, calib, "input"),
              "global magnitude (Torch-Pruning style)": lambda k: ob.global_magnitude(model, k)}
    for label, make in makers.items():
        progress(f"budget {budget}: {label}")
        found = ob.match_latency(make, model, goal_ratio, target)
        rows.append({"budget": budget, "method": label, "latency": found["ratio"],
                     "accuracy": 100 * ob.accuracy(found["model"], images, labels, "input"),
                     "knob": found["knob"], "tried": found["tried"]})
    return rows


def plot(rows: list[dict], dense: float, path: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in dict.fromkeys(r["method"] for r in rows):
        pts = sorted((r["latency"], r["accuracy"]) for r in rows if r["method"] == method)
        ax.plot(*zip(*pts), marker="o", label=method)
    ax.axhline(dense, color="gray", linestyle="--", label=f"dense {dense:.2f}%")
    ax.set_xlabel("measured latency / dense (ONNX Runtime CPU, 1 thread, batch 32)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models", "fmnist_resnet.onnx"))
    ap.add_argument("--budgets", default="0.9,0.7,0.5,0.3")
    ap.add_argument("--skip-baselines", action="store_true")
    args = ap.parse_args(argv)
    target = get_target("cpu").with_overrides(batch=32)
    x, y = load_split("test")
    images, labels = x.numpy(), y.numpy()
    test = Samples({"input": images}, labels, "Fashion-MNIST test (10,000)")
    rows = []
    for budget in (float(b) for b in args.budgets.split(",")):
        found = halp_rows(args.model, budget, target, test)
        rows += found
        if not args.skip_baselines:
            goal = next(r["latency"] for r in found if r["method"] == "loss-aware + reconstruction")
            rows += baseline_rows(args.model, budget, goal, target, images, labels)
    dense = rows[0]["dense_accuracy"]
    name = os.path.splitext(os.path.basename(args.model))[0]
    cpu = platform.processor() or platform.machine()
    print(table(rows, ["budget", "method", "latency", "accuracy", "agreement", "kl", "emptied", "rounds",
                       "saliency_s", "reconstruction_s", "knob"],
                title=f"{name}: dense test accuracy {dense:.2f}% ({cpu})"))
    save_json(f"fidelity_oneshot_{name}.json", {"dense_accuracy": dense, "rows": rows, "cpu": cpu})
    plot(rows, dense, out_path(f"fidelity_oneshot_{name}.png"), f"{name}: one-shot, no labels, no training")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
