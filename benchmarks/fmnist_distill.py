"""Label-free training on the ONNX path: `prune --finetune` and `--schedule` on the trained
Fashion-MNIST networks, against the no-training result.

    python benchmarks/fmnist_distill.py                                   # the ResNet
    python benchmarks/fmnist_distill.py --model models/fmnist_mobilenet.onnx
    python benchmarks/fmnist_distill.py --budgets 0.5 --runs 1            # quicker

For each budget (a fraction of the dense model's measured latency on this CPU, ONNX
Runtime, 1 thread, batch 32) `halp_graph.prune` runs with the 512 unlabelled images of
models/fmnist_calib.npz as calibration data (a quarter held out: it picks the best
training state) and the 60,000 Fashion-MNIST training images, labels ignored, as
fine-tuning data:

  * no training: loss-aware saliency + reconstruction (the issue-10 result);
  * 1 and 3 epochs: that same model (same plan, same reconstruction) distilled against
    the dense one, exactly as `prune --finetune N` does after the closed loop (KL at
    temperature 2 on the logits, Adam 1e-3, cosine, batch 64), so the rows differ only
    by the training;
  * `schedule=30, finetune=3`: HALP's schedule, 30 pruning steps over the first half of 3
    epochs with loss-aware scores re-measured at each, the last step in the closed loop
    (its own plan).

The 10,000 test images score the final model only (their labels are never seen by the
run). Printed: a markdown table; written: benchmarks/out/fmnist_distill_<model>.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import progress, save_json, table  # noqa: E402

import halp_graph  # noqa: E402
from halp_graph.fidelity import FidelityProbe  # noqa: E402
from halp_graph.latency import get_target  # noqa: E402
from halp_graph.models.fmnist_data import load_split  # noqa: E402
from halp_graph.samples import Samples  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CALIB = os.path.join(HERE, "..", "models", "fmnist_calib.npz")
RUNS = ("no training", "finetune 1 epoch", "finetune 3 epochs", "schedule 30 steps, 3 epochs")


def distilled(model: str, result, train: dict, epochs: int):
    """The no-training result distilled for `epochs`, as prune(finetune=epochs) would."""
    from halp_graph.distill import DistillConfig
    from halp_graph.graph import as_loaded
    from halp_graph.pruning.data import prepare_data
    from halp_graph.pruning.finetune import finetune
    from halp_graph.samples import read_samples

    dense = as_loaded(model)
    held = prepare_data(dense.proto, CALIB).eval
    samples = read_samples(train, dense.proto, what="fine-tuning data")
    out = finetune(dense, result.model, result.plan, result.groups, samples, held,
                   DistillConfig(epochs=epochs, progress=True), lambda m: progress(m))
    return out.model, out.info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models", "fmnist_resnet.onnx"))
    ap.add_argument("--budgets", default="0.7,0.5,0.3")
    ap.add_argument("--runs", default=",".join(str(i) for i in range(len(RUNS))),
                    help="indices into: " + "; ".join(RUNS))
    args = ap.parse_args(argv)
    target = get_target("cpu").with_overrides(batch=32)
    x, y = load_split("test")
    test = Samples({"input": x.numpy()}, y.numpy(), "Fashion-MNIST test (10,000)")
    train = {"input": load_split("train")[0].numpy()}  # labels not loaded
    probe = FidelityProbe(args.model, test, test.origin, batch_size=500)
    chosen = [RUNS[int(i)] for i in args.runs.split(",")]
    rows = []
    for budget in (float(b) for b in args.budgets.split(",")):
        base = None
        for name in chosen:
            progress(f"budget {budget}: {name}")
            start = time.perf_counter()
            training, schedule = None, None
            if name == "schedule 30 steps, 3 epochs":
                result = halp_graph.prune(args.model, target, budget, calib=CALIB, finetune_data=train,
                                          progress=True, finetune=3, schedule=30)
                model, rep = result.model, result.report
                schedule = rep["schedule"]
                training = schedule["training"]
            else:
                if base is None:
                    base = halp_graph.prune(args.model, target, budget, calib=CALIB, progress=True)
                model, rep = base.model, base.report
                if name != "no training":
                    model, training = distilled(args.model, base, train, 1 if "1 epoch" in name else 3)
            seconds = time.perf_counter() - start
            fid = probe.measure(model)
            rows.append({"budget": budget, "run": name, "latency": rep["latency"]["achieved"],
                         "accuracy": 100 * fid["accuracy"]["pruned"], "agreement": 100 * fid["agreement"],
                         "kl": fid["kl"], "dense_accuracy": 100 * fid["accuracy"]["dense"],
                         "kept_channels": sum(g["kept"] for g in rep["groups"].values() if g["prunable"]),
                         "rounds": len(rep["rounds"]), "train_s": training["seconds"] if training else 0.0,
                         "stopped": training["stopped"] if training else "-", "seconds": round(seconds, 1),
                         "schedule": schedule, "finetune": training if schedule is None else None})
            progress(f"  -> {rows[-1]['accuracy']:.2f}% at {rows[-1]['latency']:.3f} [{seconds:.0f}s]")
    dense = rows[0]["dense_accuracy"]
    name = os.path.splitext(os.path.basename(args.model))[0]
    cpu = platform.processor() or platform.machine()
    print(table([{k: v for k, v in r.items() if k not in ("schedule", "finetune")} for r in rows],
                ["budget", "run", "latency", "accuracy", "agreement", "kl", "kept_channels", "rounds",
                 "train_s", "seconds"],
                title=f"{name}: dense test accuracy {dense:.2f}% ({cpu})"))
    save_json(f"fmnist_distill_{name}.json", {"dense_accuracy": dense, "rows": rows, "cpu": cpu,
                                                "budgets": args.budgets})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
