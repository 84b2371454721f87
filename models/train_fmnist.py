"""Train the dense Fashion-MNIST reference network and export it.

    python -m halp_graph.models.train_fmnist [--epochs 10] [--quick]

writes models/fmnist_resnet.pt (the weights, ~1.2 MB) and models/fmnist_resnet.onnx (the
same network, legacy exporter, opset 17, symbolic batch), the model the README's main
command prunes. About 7 minutes on one CPU thread for 10 epochs; `--quick` trains one
epoch on a 10k-image subset to prove the pipeline. Needs the Debian package
`dataset-fashion-mnist` (see fmnist_data.py).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from .fmnist_data import load_split
from .fmnist_resnet import REFERENCE_ONNX, REFERENCE_STATE, FashionResNet, example_input
from .fmnist_training import evaluate, train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=float, default=10)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="one epoch on 10k images")
    ap.add_argument("--out", default=REFERENCE_STATE, help="where to write the weights (.pt)")
    ap.add_argument("--onnx", default=REFERENCE_ONNX, help="where to write the ONNX export")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x, y = load_split("train", limit=10000 if args.quick else None)
    xt, yt = load_split("test")
    epochs = 1 if args.quick else args.epochs
    iterations = int(epochs * len(x) / 128)
    model = FashionResNet(args.width)
    t = time.time()
    train(model, x, y, iterations, args.lr, seed=args.seed, log_every=100)
    acc = evaluate(model, xt, yt)
    print(f"test accuracy {acc:.2f}% after {iterations} iterations ({time.time() - t:.0f}s)")
    state = {k: v for k, v in model.state_dict().items()}
    state["_width"] = torch.tensor(args.width)
    torch.save(state, args.out)
    from halp_graph.torch.export import export_onnx
    if os.path.exists(args.onnx):
        os.remove(args.onnx)
    export_onnx(model.eval(), example_input(1), args.onnx, dynamic_batch=True)
    print(f"wrote {args.out} and {args.onnx}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
