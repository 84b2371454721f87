"""Fashion-MNIST from Debian's `dataset-fashion-mnist` package, as normalised tensors.

Install the data with `apt-get install -y dataset-fashion-mnist`: it puts the four IDX
files under /usr/share/datasets/fashion-mnist/ (override with HALP_FMNIST_DIR). Nothing
is downloaded; absent data is one clear error saying how to get it.
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import torch

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
MEAN, STD = 0.2860, 0.3530  # training-set pixel statistics
CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")


class DataMissing(FileNotFoundError):
    pass


def data_dir() -> str:
    return os.environ.get("HALP_FMNIST_DIR", DEFAULT_DIR)


def _read_idx(path: str) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: truncated IDX file ({data.size} of {int(np.prod(dims))} values)")
    return data.reshape(dims)


def load_split(split: str, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(images [N, 1, 28, 28] float32 normalised, labels [N] int64) of "train" or "test"."""
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    paths = [os.path.join(data_dir(), name) for name in FILES[split]]
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        raise DataMissing(f"Fashion-MNIST not found ({missing[0]} is missing): install it with "
                          f"`apt-get install -y dataset-fashion-mnist`, or point HALP_FMNIST_DIR "
                          f"at a directory holding the four IDX .gz files")
    images, labels = (_read_idx(p) for p in paths)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    x = (torch.from_numpy(images.astype(np.float32) / 255.0) - MEAN) / STD
    return x.unsqueeze(1), torch.from_numpy(labels.astype(np.int64))
