"""Write the shipped calibration set, models/fmnist_calib.npz, reproducibly.

    python -m halp_graph.models.make_fmnist_calib

512 Fashion-MNIST training images, the first 512 of `np.random.default_rng(0)
.permutation(60000)`, normalised exactly as `load_split("train")` returns them: key
"input" (the input name of both reference ONNX models) [512, 1, 28, 28] float32, key
"labels" [512] int64, np.savez_compressed (~0.33 MB). Needs the Debian package
`dataset-fashion-mnist` (see fmnist_data.py).
"""

from __future__ import annotations

import os

import numpy as np

from .fmnist_data import load_split

HERE = os.path.dirname(os.path.abspath(__file__))
CALIBRATION = os.path.join(HERE, "fmnist_calib.npz")
COUNT, SEED = 512, 0


def main() -> int:
    x, y = load_split("train")
    idx = np.random.default_rng(SEED).permutation(len(x))[:COUNT]
    np.savez_compressed(CALIBRATION, input=x.numpy()[idx].astype(np.float32),
                        labels=y.numpy()[idx].astype(np.int64))
    print(f"wrote {CALIBRATION} ({COUNT} training images, seed {SEED})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
