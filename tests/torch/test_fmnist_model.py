"""The Fashion-MNIST reference model and its data loader (no apt data needed here)."""

from __future__ import annotations

import gzip
import os
from collections import Counter

import numpy as np
import pytest
import torch

from halp_graph.graph import analyze, load_model
from halp_graph.models import REFERENCE_MODEL
from halp_graph.models.fmnist_data import DataMissing, load_split
from halp_graph.models.fmnist_resnet import REFERENCE_STATE, FashionResNet, example_input, load_reference
from halp_graph.models.fmnist_training import augment
from halp_graph.torch import match_groups, module_groups


def test_missing_data_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HALP_FMNIST_DIR", str(tmp_path))
    with pytest.raises(DataMissing, match="apt-get install -y dataset-fashion-mnist"):
        load_split("train")
    with pytest.raises(ValueError, match="split"):
        load_split("validation")


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_files_are_read_and_normalised(tmp_path, monkeypatch):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    labels = np.array([3, 1, 4, 1, 5])
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    monkeypatch.setenv("HALP_FMNIST_DIR", str(tmp_path))
    x, y = load_split("test", limit=4)
    assert x.shape == (4, 1, 28, 28) and y.tolist() == [3, 1, 4, 1]
    from halp_graph.models.fmnist_data import MEAN, STD
    assert torch.allclose(x[0, 0] * STD + MEAN, torch.tensor(images[0] / 255.0, dtype=torch.float32), atol=1e-6)


def test_reference_model_is_small_and_its_onnx_has_the_same_groups():
    assert os.path.getsize(REFERENCE_MODEL) < 4e6 and os.path.getsize(REFERENCE_STATE) < 4e6
    model = load_reference()
    fx = module_groups(model, example_input(1)).groups
    onnx = analyze(load_model(REFERENCE_MODEL))
    sig = lambda gs: Counter((g.size, g.prunable, g.cut) for g in gs)  # noqa: E731
    assert sig(fx) == sig(onnx) and len(fx.prunable()) == 6
    match_groups(fx, onnx)


def test_augment_shifts_and_flips_deterministically():
    x = torch.randn(8, 1, 28, 28)
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)


def test_network_width_is_configurable():
    assert FashionResNet(8)(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
