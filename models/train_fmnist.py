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

import torch

from .fmnist_resnet import REFERENCE_ONNX, REFERENCE_STATE, FashionResNet, example_input
from .reference_training import add_arguments, train_and_export


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap, REFERENCE_STATE, REFERENCE_ONNX)
    ap.add_argument("--width", type=int, default=32)
    args = ap.parse_args(argv)
    return train_and_export(lambda: FashionResNet(args.width), example_input, args,
                            {"_width": torch.tensor(args.width)})


if __name__ == "__main__":
    raise SystemExit(main())
