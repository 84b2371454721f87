"""The command line both Fashion-MNIST reference networks are trained and exported with.

`add_arguments` gives a training script its options; `train_and_export` trains the
network with fmnist_training.train, prints its test accuracy, saves the weights (plus any
extra entries, such as the ResNet's width) and writes the ONNX export (legacy exporter,
symbolic batch).
"""

from __future__ import annotations

import os
import time

import torch

from .fmnist_data import load_split
from .fmnist_training import evaluate, train


def add_arguments(ap, state_path: str, onnx_path: str) -> None:
    ap.add_argument("--epochs", type=float, default=10)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="one epoch on 10k images")
    ap.add_argument("--out", default=state_path, help="where to write the weights (.pt)")
    ap.add_argument("--onnx", default=onnx_path, help="where to write the ONNX export")
    ap.add_argument("--threads", type=int, default=1)


def train_and_export(make_model, example_input, args, extra_state: dict | None = None) -> int:
    """Train `make_model()` as `args` say (the seed is set before it is built), then save."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y = load_split("train", limit=10000 if args.quick else None)
    xt, yt = load_split("test")
    epochs = 1 if args.quick else args.epochs
    iterations = int(epochs * len(x) / 128)
    model = make_model()
    t = time.time()
    train(model, x, y, iterations, args.lr, seed=args.seed, log_every=100)
    acc = evaluate(model, xt, yt)
    print(f"test accuracy {acc:.2f}% after {iterations} iterations ({time.time() - t:.0f}s)")
    state = dict(model.state_dict())
    state.update(extra_state or {})
    torch.save(state, args.out)
    from halp_graph.torch.onnx_export import export_onnx
    if os.path.exists(args.onnx):
        os.remove(args.onnx)
    export_onnx(model.eval(), example_input(1), args.onnx, dynamic_batch=True)
    print(f"wrote {args.out} and {args.onnx}")
    return 0
