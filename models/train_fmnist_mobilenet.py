"""Train the MobileNet-style Fashion-MNIST reference network and export it.

    python -m halp_graph.models.train_fmnist_mobilenet [--epochs 10] [--quick]

writes models/fmnist_mobilenet.pt (the weights, ~0.4 MB) and models/fmnist_mobilenet.onnx
(the same network, legacy exporter, opset 17, symbolic batch, HardSwish/HardSigmoid ops),
the second reference model: inverted residuals with depthwise convs and squeeze-excite
(98k parameters, 1.9M MACs). 10 epochs reach 91.1% test accuracy in about 11 minutes on
one idle CPU thread (15 minutes measured on a busy shared machine; 8 epochs: 90.7% in
9 minutes); `--quick` trains one epoch on a 10k-image subset to prove the pipeline.
Needs the Debian package `dataset-fashion-mnist` (see fmnist_data.py).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from .fmnist_data import load_split
from .fmnist_mobilenet import REFERENCE_ONNX, REFERENCE_STATE, FashionMobileNet, example_input
from .fmnist_training import evaluate, train


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=float, default=10)
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
    model = FashionMobileNet()
    t = time.time()
    train(model, x, y, iterations, args.lr, seed=args.seed, log_every=100)
    acc = evaluate(model, xt, yt)
    print(f"test accuracy {acc:.2f}% after {iterations} iterations ({time.time() - t:.0f}s)")
    torch.save(model.state_dict(), args.out)
    from halp_graph.torch.export import export_onnx
    if os.path.exists(args.onnx):
        os.remove(args.onnx)
    export_onnx(model.eval(), example_input(1), args.onnx, dynamic_batch=True)
    print(f"wrote {args.out} and {args.onnx}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
