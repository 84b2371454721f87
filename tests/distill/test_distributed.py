"""`prune --finetune --schedule` under torch.distributed: two gloo processes on this
machine end with the same plan and bit-identical weights (gradients averaged by
DistributedDataParallel, decisions and plans broadcast from rank 0), and only the data
shards differ between them."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import onnx
import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "models", "fmnist_resnet.onnx")
CALIB = os.path.join(HERE, "..", "..", "models", "fmnist_calib.npz")


def _worker(rank: int, world: int, folder: str) -> None:
    import halp_graph

    os.environ["HALP_GRAPH_CACHE"] = os.path.join(folder, f"cache{rank}")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world)
    try:
        with np.load(CALIB) as data:
            calib = {"input": data["input"]}
        result = halp_graph.prune(MODEL, "xavier", 0.6, calib=calib, finetune=2, schedule=3)
        weights = {t.name: onnx.numpy_helper.to_array(t).tobytes() for t in result.model.proto.graph.initializer}
        digest = hashlib.sha256(b"".join(weights[k] for k in sorted(weights))).hexdigest()
        report = result.report
        with open(os.path.join(folder, f"rank{rank}.json"), "w") as f:
            json.dump({"plan": report["plan"], "weights": digest,
                       "steps": [r["kept_channels"] for r in report["schedule"]["records"]],
                       "training_steps": report["schedule"]["training"]["steps"],
                       "samples": report["schedule"]["training"]["samples"]}, f)
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_end_with_the_same_plan_and_weights(tmp_path):
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["plan"] == ranks[1]["plan"] and ranks[0]["plan"]["keep"]
    assert ranks[0]["weights"] == ranks[1]["weights"]
    assert ranks[0]["steps"] == ranks[1]["steps"]
    # each rank trained on its half of the 384 training samples: 192 // 64 = 3 steps per epoch
    assert ranks[0]["training_steps"] == 6 and ranks[0]["samples"] == 384
