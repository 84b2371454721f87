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

from .fmnist_mobilenet import REFERENCE_ONNX, REFERENCE_STATE, FashionMobileNet, example_input
from .reference_training import add_arguments, train_and_export


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap, REFERENCE_STATE, REFERENCE_ONNX)
    args = ap.parse_args(argv)
    return train_and_export(FashionMobileNet, example_input, args)


if __name__ == "__main__":
    raise SystemExit(main())
