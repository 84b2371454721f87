"""The one-shot pruners HALP is compared with, each tuned to a given measured latency.

Two peers, each with one knob:

* onnxsim Wanda (`onnxsim_wanda`): onnxsim's structured Wanda pruning (channels ranked by
  ||W_row||_2 * ||X||_2 over calibration batches), knob = its per-chain sparsity;
* global magnitude (`global_magnitude`): Torch-Pruning style, over our channel groups:
  one threshold on the group-normalised L2 magnitude score across all prunable groups,
  knob = the fraction of prunable channels below it, rewritten by our prune pass.

`match_latency` bisects a knob until the pruned model's latency, measured on the target
interleaved with the dense model, lands at a goal ratio (pruned / dense), so accuracy
can be compared at the same measured latency. `accuracy` is top-1 in ONNX Runtime.

Run as a script it prints, per budget, the knob, measured latency ratio and Fashion-MNIST
test accuracy of both peers (ONNX Runtime CPU, 1 thread, batch 32), and writes
benchmarks/out/oneshot_baselines_<model stem>.json:

    python benchmarks/oneshot_baselines.py --model models/fmnist_resnet.onnx [--budgets 0.9,0.7,0.5,0.3]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from typing import Callable

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import progress, save_json, table  # noqa: E402
from prune_alternatives import global_counts  # noqa: E402

from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.latency import get_target, measure_interleaved  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.runtime import session  # noqa: E402
from halp_graph.samples import LABELS_KEY  # noqa: E402
from halp_graph.saliency import score  # noqa: E402
from halp_graph.solver import make_plan  # noqa: E402

CALIB_BATCH = 32
CALIB_BATCHES = 16


def calibration_feeds(calib: np.ndarray | dict, input_name: str,
                      batch: int = CALIB_BATCH, batches: int = CALIB_BATCHES) -> list[dict]:
    """The first batch * batches calibration samples as onnxsim's list of feed dicts."""
    arrays = calib if isinstance(calib, dict) else {input_name: calib}
    arrays = {k: np.asarray(v) for k, v in arrays.items() if k != LABELS_KEY}
    n = min(len(v) for v in arrays.values())
    return [{k: v[i:i + batch] for k, v in arrays.items()}
            for i in range(0, min(n, batch * batches), batch)]


def onnxsim_wanda(model_path: str, sparsity: float, calib: np.ndarray | dict,
                  input_name: str) -> onnx.ModelProto:
    """onnxsim's structured Wanda pruning at `sparsity`, calibrated on `calib` (samples, or
    {input name: samples}); checked to run one calibration batch in ONNX Runtime (the
    symbolic batch is kept)."""
    from onnxsim.pruning import apply_structured_wanda_pruning

    feeds = calibration_feeds(calib, input_name)
    pruned = apply_structured_wanda_pruning(model_path, calibration_data=feeds, sparsity=sparsity)
    onnx.checker.check_model(pruned)
    session(pruned).run(None, feeds[0])
    return pruned


@functools.lru_cache(maxsize=4)
def _magnitude_setup(model_path: str):
    """(model, groups, scores, every prunable channel's score) for one model, kept so a
    bisection analyses the model once."""
    model = load_model(model_path)
    groups = analyze(model)
    scores = score(groups, method="magnitude", norm="l2")
    pooled = np.concatenate([scores[g.id] for g in groups.prunable()])
    return model, groups, scores, pooled


def global_magnitude(model_path: str, fraction_pruned: float) -> onnx.ModelProto:
    """Our groups pruned at one global threshold on the L2 magnitude scores, placed so that
    about `fraction_pruned` of the prunable channels fall below it (each group still keeps
    its minimum and a multiple of its step, so the fraction removed can be lower)."""
    model, groups, scores, pooled = _magnitude_setup(model_path)
    counts = global_counts(groups, scores, float(np.quantile(pooled, fraction_pruned)))
    return prune_channels(model, make_plan(groups, scores, counts), groups).proto


def measured_ratio(model: onnx.ModelProto, dense: onnx.ModelProto, target, rounds: int) -> float:
    """Median latency of `model` over the dense model's, timed in turns on `target`."""
    dense_t, model_t = measure_interleaved([dense, model], target, rounds=rounds)
    return model_t.median_ms / dense_t.median_ms


def match_latency(make: Callable[[float], onnx.ModelProto], dense_path: str, goal_ratio: float,
                  target, knob_range=(0.0, 0.95), steps: int = 7, rounds: int = 10) -> dict:
    """Bisect the knob of `make` so that the measured latency ratio of make(knob) to the
    dense model lands at `goal_ratio`.

    A larger knob is taken to mean a faster model, but the measured ratio need not be
    monotone in it (onnxsim's pruning is slower than dense at low sparsity), so the result
    is the candidate measured closest to the goal: {"knob", "ratio", "model", "tried":
    [(knob, ratio), ...] in the order measured}.
    """
    dense = onnx.load(dense_path)
    lo, hi = knob_range
    tried, best = [], None
    for _ in range(steps):
        knob = (lo + hi) / 2
        model = make(knob)
        ratio = measured_ratio(model, dense, target, rounds)
        tried.append((round(knob, 4), round(ratio, 4)))
        if best is None or abs(ratio - goal_ratio) < abs(best["ratio"] - goal_ratio):
            best = {"knob": knob, "ratio": ratio, "model": model}
        if ratio > goal_ratio:
            lo = knob
        else:
            hi = knob
    return dict(best, tried=tried)


def accuracy(model: onnx.ModelProto | str, images: np.ndarray, labels: np.ndarray,
             input_name: str, batch: int = 500) -> float:
    """Top-1 accuracy of `model` on `images` in ONNX Runtime, 1 thread."""
    sess = session(model, threads=1)
    output = sess.get_outputs()[0].name
    correct = 0
    for i in range(0, len(images), batch):
        logits = sess.run([output], {input_name: images[i:i + batch]})[0]
        correct += int((logits.argmax(axis=1) == labels[i:i + batch]).sum())
    return correct / len(images)


def run_baselines(model_path: str, budgets: list[float], calib: np.ndarray, images: np.ndarray,
                  labels: np.ndarray, target, steps: int, rounds: int) -> list[dict]:
    """One row per (budget, method): knob, measured ratio, test accuracy, every try; a
    method that fails at a budget gets a row saying why."""
    input_name = onnx.load(model_path).graph.input[0].name
    makers = {
        "onnxsim Wanda": lambda s: onnxsim_wanda(model_path, s, calib, input_name),
        "global magnitude": lambda f: global_magnitude(model_path, f),
    }
    rows = [{"budget": 1.0, "method": "dense", "knob": 0.0, "ratio": 1.0,
             "accuracy": accuracy(model_path, images, labels, input_name)}]
    for budget in budgets:
        for method, make in makers.items():
            progress(f"{os.path.basename(model_path)} budget {budget}: {method}")
            start = time.perf_counter()
            try:
                found = match_latency(make, model_path, budget, target, steps=steps, rounds=rounds)
            except Exception as exc:
                rows.append({"budget": budget, "method": method,
                             "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"})
                continue
            rows.append({"budget": budget, "method": method, "knob": round(found["knob"], 4),
                         "ratio": round(found["ratio"], 3),
                         "accuracy": accuracy(found["model"], images, labels, input_name),
                         "tried": found["tried"], "seconds": round(time.perf_counter() - start, 1)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/fmnist_resnet.onnx")
    ap.add_argument("--budgets", default="0.9,0.7,0.5,0.3", help="measured latency ratios to match")
    ap.add_argument("--calib", default="models/fmnist_calib.npz")
    ap.add_argument("--batch", type=int, default=32, help="batch the latency is measured at")
    ap.add_argument("--steps", type=int, default=7, help="bisection steps per method and budget")
    ap.add_argument("--rounds", type=int, default=10, help="interleaved timing rounds per candidate")
    ap.add_argument("--limit", type=int, help="evaluate on the first LIMIT test images only")
    args = ap.parse_args()

    from halp_graph.models.fmnist_data import load_split

    target = get_target("cpu", threads=1, batch=args.batch)
    calib = np.load(args.calib)["input"]
    images, labels = (t.numpy() for t in load_split("test", limit=args.limit))
    budgets = [float(b) for b in args.budgets.split(",")]
    rows = run_baselines(args.model, budgets, calib, images, labels, target, args.steps, args.rounds)

    stem = os.path.splitext(os.path.basename(args.model))[0]
    shown = [{"budget": r["budget"], "method": r["method"], "knob": r.get("knob", ""),
              "measured latency ratio": r.get("ratio", r.get("error")),
              "test accuracy": r.get("accuracy", "")} for r in rows]
    print(table(shown, list(shown[0]), f"{stem}: one-shot baselines ({target.summary()}), "
                                       f"accuracy on {len(labels)} test images"))
    path = save_json(f"oneshot_baselines_{stem}.json",
                     {"model": args.model, "target": target.to_json(), "budgets": budgets,
                      "steps": args.steps, "rounds": args.rounds, "test_images": len(labels),
                      "rows": rows})
    progress(f"wrote {path}")


if __name__ == "__main__":
    main()
