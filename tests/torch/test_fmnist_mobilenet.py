"""The MobileNet Fashion-MNIST reference model: its ONNX export, its groups, the calibration set."""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import torch

from halp_graph.graph import analyze, load_model
from halp_graph.models import REFERENCE_MODEL
from halp_graph.models.fmnist_mobilenet import (REFERENCE_ONNX, REFERENCE_STATE, FashionMobileNet,
                                                example_input, load_reference)
from halp_graph.models.make_fmnist_calib import CALIBRATION
from halp_graph.runtime import session
from halp_graph.torch import match_groups, module_groups


def _calibration() -> dict[str, np.ndarray]:
    with np.load(CALIBRATION) as data:
        return {k: data[k] for k in data.files}


def test_shipped_onnx_computes_what_the_shipped_weights_compute():
    assert os.path.getsize(REFERENCE_ONNX) < 1e6 and os.path.getsize(REFERENCE_STATE) < 1e6
    x = _calibration()["input"][:8]
    with torch.no_grad():
        expected = load_reference()(torch.from_numpy(x)).numpy()
    got = session(load_model(REFERENCE_ONNX)).run(None, {"input": x})[0]
    assert np.abs(got - expected).max() < 1e-4 * np.abs(expected).max()


def test_depthwise_and_squeeze_excite_channels_are_prunable():
    fx = module_groups(load_reference(), example_input(1)).groups
    onnx = analyze(load_model(REFERENCE_ONNX))
    sig = lambda gs: Counter((g.size, g.prunable, g.cut) for g in gs)  # noqa: E731
    assert sig(fx) == sig(onnx) and len(onnx.prunable()) == 17
    match_groups(fx, onnx)


def test_calibration_set_fits_both_reference_models():
    data = _calibration()
    assert data["input"].shape == (512, 1, 28, 28) and data["input"].dtype == np.float32
    assert data["labels"].shape == (512,) and data["labels"].dtype == np.int64
    for path in (REFERENCE_MODEL, REFERENCE_ONNX):
        assert [i.name for i in load_model(path).proto.graph.input] == ["input"]


def test_network_runs_on_a_batch():
    assert FashionMobileNet()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
