"""The rewrite on real exports of both exporters (a fast subset; the benchmark
benchmarks/rewrite_coverage.py runs the whole torchvision zoo)."""

from __future__ import annotations

import pytest

from conftest import prove_plan
from halp_graph.graph import analyze, load_model
from halp_graph.testing import random_plan

FAST = ["resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121", "googlenet",
        "shufflenet_v2_x1_0", "regnet_y_400mf", "convnext_tiny", "vit_b_16", "squeezenet1_0",
        "resnext50_32x4d", "mobilenet_v3_large"]


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("name", FAST)
def test_random_plans_on_zoo_models(grouped, name, exporter):
    model, groups = grouped(name, exporter)
    for seed in range(2):
        prove_plan(model, groups, random_plan(groups, seed=seed))


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
def test_dynamic_batch_exports(zoo, exporter):
    model = load_model(zoo("resnet18", exporter, dynamic_batch=True))
    groups = analyze(model)
    pruned = prove_plan(model, groups, random_plan(groups, seed=5, p_touch=1.0))
    dim = pruned.proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param and not dim.HasField("dim_value")


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("name", ["timm:tresnet_m", "timm:hgnetv2_b0", "timm:mobilevit_xs", "timm:nf_resnet26"])
def test_random_plans_on_timm_models(grouped, name, exporter):
    model, groups = grouped(name, exporter)
    prove_plan(model, groups, random_plan(groups, seed=0))
