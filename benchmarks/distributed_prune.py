"""Two gloo processes run `prune --finetune --schedule` on the Fashion-MNIST ResNet and end
with identical plans and weights; then the same through torchrun and the CLI.

    python benchmarks/distributed_prune.py               # ~3 min on 2 cores
    python benchmarks/distributed_prune.py --images 20000 --steps 10

Part 1 spawns two ranks (torch.multiprocessing, gloo, file rendezvous), each calling
`halp_graph.prune` with the same arguments on the CPU target (ONNX Runtime, 1 thread,
batch 32): every rank trains on its half of each epoch (DistributedDataParallel averages
the gradients), re-measures scores and solves at every schedule step, and takes rank 0's
plan. Each rank writes its plan, a SHA-256 of its weights and its latency; they are
compared. Part 2 runs `torchrun --nproc_per_node 2 -m halp_graph prune ...`: rank 0 alone
writes the model. Written: benchmarks/out/distributed_prune.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import progress, save_json  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "models", "fmnist_resnet.onnx")
CALIB = os.path.join(HERE, "..", "models", "fmnist_calib.npz")


def worker(rank: int, world: int, folder: str, images: int, steps: int, budget: float) -> None:
    import onnx
    import torch
    import torch.distributed as dist

    import halp_graph
    from halp_graph.latency import get_target
    from halp_graph.models.fmnist_data import load_split

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world)
    try:
        train = {"input": load_split("train", limit=images)[0].numpy()}
        start = time.perf_counter()
        result = halp_graph.prune(MODEL, get_target("cpu").with_overrides(batch=32), budget, calib=CALIB,
                                  finetune_data=train, finetune=1, schedule=steps)
        weights = b"".join(onnx.numpy_helper.to_array(t).tobytes()
                           for t in sorted(result.model.proto.graph.initializer, key=lambda t: t.name))
        rep = result.report
        with open(os.path.join(folder, f"rank{rank}.json"), "w") as f:
            json.dump({"plan": rep["plan"], "weights_sha256": hashlib.sha256(weights).hexdigest(),
                       "kept_per_step": [r["kept_channels"] for r in rep["schedule"]["records"]],
                       "achieved": rep["latency"]["achieved"], "status": rep["status"],
                       "training_steps": rep["schedule"]["training"]["steps"],
                       "held_out_agreement": rep["fidelity"]["final"]["agreement"],
                       "seconds": round(time.perf_counter() - start, 1)}, f)
    finally:
        dist.destroy_process_group()


def main(argv=None) -> int:
    import torch.multiprocessing as mp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10000, help="training images (labels unused)")
    ap.add_argument("--steps", type=int, default=5, help="schedule steps")
    ap.add_argument("--budget", type=float, default=0.5)
    args = ap.parse_args(argv)
    out = {"images": args.images, "steps": args.steps, "budget": args.budget}
    with tempfile.TemporaryDirectory() as folder:
        progress(f"part 1: 2 gloo ranks, {args.images} images, {args.steps} schedule steps")
        mp.spawn(worker, args=(2, folder, args.images, args.steps, args.budget), nprocs=2, join=True)
        ranks = [json.load(open(os.path.join(folder, f"rank{r}.json"))) for r in range(2)]
        out["ranks"] = ranks
        out["identical_plans"] = ranks[0]["plan"] == ranks[1]["plan"]
        out["identical_weights"] = ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
        progress(f"  identical plans: {out['identical_plans']}, identical weights: {out['identical_weights']}")

        progress("part 2: torchrun --nproc_per_node 2 -m halp_graph prune ... (rank 0 writes)")
        calib_train = os.path.join(folder, "train.npz")
        from halp_graph.models.fmnist_data import load_split
        np.savez(calib_train, input=load_split("train", limit=args.images)[0].numpy())
        slim = os.path.join(folder, "slim.onnx")
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                              "-m", "halp_graph", "prune", MODEL, "--target", "cpu", "--batch", "32",
                              "--budget", str(args.budget), "--calib", CALIB, "--finetune", "1",
                              "--finetune-data", calib_train, "--schedule", str(args.steps), "-o", slim],
                             capture_output=True, text=True)
        out["torchrun"] = {"exit": run.returncode, "wrote": os.path.exists(slim),
                           "seconds": round(time.perf_counter() - start, 1),
                           "tail": run.stderr.strip().splitlines()[-14:]}
        progress(f"  exit {run.returncode}, model written: {os.path.exists(slim)}")
    save_json("distributed_prune.json", out)
    print(json.dumps({k: v for k, v in out.items() if k != "torchrun"}, indent=1))
    print("\n".join(out["torchrun"]["tail"]))
    return 0 if out["identical_plans"] and out["identical_weights"] and run.returncode == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
