"""Whole models: the hand-built edge cases at several opsets, the bundled Fashion-MNIST
ResNet, and zoo exports under both exporters all agree with ONNX Runtime."""

from __future__ import annotations

import os

import pytest
import torch

from halp_graph.models import edge_cases as ec
from halp_graph.twin import build_twin, check_twin

FMNIST = os.path.join(os.path.dirname(ec.__file__), "fmnist_resnet.onnx")


@pytest.mark.parametrize("opset", [11, 13, 18, 21])
@pytest.mark.parametrize("name", sorted(ec.EDGE_CASES))
def test_edge_cases(name, opset):
    model = ec.EDGE_CASES[name](opset=opset)
    if name == "weight_batchnorm_standardized" and opset < 14:
        _against_unoptimized_ort(model)
        return
    report = check_twin(build_twin(model), model, batch=2)
    assert report.ok and not report.vacuous, report


def _against_unoptimized_ort(model):
    """Before opset 14 a training-mode BatchNormalization is spelled by its extra outputs;
    ORT's constant folding then computes neither batch nor running statistics on a
    constant input (0.15 off), while ORT unoptimized follows the spec. So does the twin."""
    import numpy as np
    import onnxruntime as ort

    from halp_graph.testing import random_inputs
    from halp_graph.twin.check import relative_error

    feeds = random_inputs(model)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    expected = ort.InferenceSession(model.SerializeToString(), opts).run(None, feeds)[0]
    twin = build_twin(model)
    with torch.no_grad():
        got = twin(feeds)[twin.output_names[0]].numpy()
    assert relative_error(got, expected) < 1e-4 and np.abs(expected).max() > 1e-3


def test_fmnist_resnet():
    twin = build_twin(FMNIST)
    report = check_twin(twin, FMNIST, batch=4, raise_on_fail=True)
    assert not report.vacuous
    out = twin({"input": torch.randn(2, 1, 28, 28)})["output"]
    out.sum().backward()
    assert all(twin.constant(n).grad is not None for n in twin.parameter_names())


# Diverse and quick at the small resolution: plain residual, SE + hard activations,
# channel shuffle (Reshape/Transpose/Split), windowed attention (LayerNorm, Softmax,
# MatMul with batch dims, Roll through Slice/Concat, shape arithmetic).
ZOO = ["resnet18", "mobilenet_v3_small", "shufflenet_v2_x0_5", "swin_t"]


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("name", ZOO)
def test_zoo(zoo, name, exporter):
    path = zoo(name, exporter)
    report = check_twin(build_twin(path), path, batch=1)
    assert report.ok and not report.vacuous, report
