"""Channel rules for what third-party exporters write (paddle2onnx OCR models, ultralytics
YOLOv8, tf2onnx): HardSigmoid, HardSwish, LeakyRelu and PRelu; ConvTranspose up-sampling
heads; a detector head with Split/Concat/Reshape/Transpose and the DFL Softmax; NHWC
graphs; weights held in Constant nodes. Each graph's groups are checked, and random plans
are proven equal to the channel-masked original at two input shapes."""

from __future__ import annotations

import pytest

from halp_graph.graph import analyze
from halp_graph.models import edge_cases as ec
from halp_graph.plan import PruningPlan
from halp_graph.testing import random_plan
from shape_checks import NCHW_SHAPES, NHWC_SHAPES, prove_at_shapes


def prove_random_plans(model, groups, shapes=NCHW_SHAPES, seeds=range(5)):
    for seed in seeds:
        plan = random_plan(groups, seed=seed, p_touch=0.9)
        if plan.removes_anything(groups):
            prove_at_shapes(model, groups, plan, shapes, expect_change=False)


def group_of(groups, tensor_prefix: str, axis: int = 1):
    return next(g for g in groups for m in g.members
                if m.tensor.startswith(tensor_prefix) and m.axis == axis and not m.is_param)


def params_of(group, op_type: str) -> list:
    return [m for m in group.members if m.is_param and m.node.startswith(op_type)]


# ----------------------------------------------------------------------- activations

@pytest.mark.parametrize("opset", [11, 13, 14, 17, 21])
def test_activations_carry_channels_and_prelu_slope_is_a_parameter(opset):
    model = ec.activations(opset=opset)
    groups = analyze(model)
    assert sorted(g.size for g in groups.prunable()) == [6, 8, 8, 8, 8]
    slope_group = group_of(groups, "c4_")
    slopes = params_of(slope_group, "PRelu")
    assert len(slopes) == 1 and slopes[0].tensor.startswith("slope") and slopes[0].axis == 0
    shared = group_of(groups, "c5_")
    assert not params_of(shared, "PRelu")  # one slope for every channel: broadcast, not sliced
    prove_random_plans(model, groups)


def test_prelu_slope_is_sliced_with_its_channels():
    model = ec.activations()
    groups = analyze(model)
    g = group_of(groups, "c4_")
    pruned = prove_at_shapes(model, groups, PruningPlan({g.id: [1, 5, 6]}))
    prelu = next(n for n in pruned.proto.graph.node if n.op_type == "PRelu")
    slope = next(t for t in pruned.proto.graph.initializer if t.name == prelu.input[1])
    assert list(slope.dims) == [3, 1, 1]


# ------------------------------------------------------------------- ConvTranspose

@pytest.mark.parametrize("opset", [11, 13, 17, 21])
def test_conv_transpose_head(opset):
    model = ec.conv_transpose_head(opset=opset)
    groups = analyze(model)
    assert sorted(g.size for g in groups.prunable()) == [6, 8, 8]
    up = group_of(groups, "up_")  # ConvTranspose output channels: weight axis 1
    assert any(m.tensor.startswith("up_w") and m.axis == 1 for m in up.members)
    down = group_of(groups, "down_")  # its input channels: weight axis 0
    assert any(m.tensor.startswith("up_w") and m.axis == 0 for m in down.members)
    dw = next(m for m in up.members if m.tensor.startswith("dw_up_") and not m.is_param)
    assert dw.block == 2  # depthwise with multiplier 2: each channel becomes two
    assert group_of(groups, "prob").reason.startswith("graph output")
    prove_random_plans(model, groups)


def test_grouped_conv_transpose_is_frozen_with_its_reason():
    groups = analyze(ec.grouped_conv_transpose())
    frozen = [g for g in groups if g.size in (6, 8)]
    assert frozen and all("grouped ConvTranspose" in g.reason and "group=2" in g.reason for g in frozen)
    prove_random_plans(ec.grouped_conv_transpose(), groups)


# ---------------------------------------------------------------------- YOLOv8 head

@pytest.mark.parametrize("opset", [13, 17, 21])
def test_yolo_head_branches_prune_and_outputs_stay(opset):
    model = ec.yolo_head(opset=opset)
    groups = analyze(model)
    prunable = {m.tensor.split("_")[0] for g in groups.prunable() for m in g.activation_members()
                if m.tensor.startswith(("p1", "p2", "box", "cls"))}
    assert sorted(g.size for g in groups.prunable()) == [8] * 6
    assert {"p1", "p2", "box0", "box1", "cls0", "cls1"} <= prunable
    box = group_of(groups, "box0_")  # the box distribution: reshaped into bins, softmaxed
    cls = group_of(groups, "cls0_")
    assert not box.prunable and not cls.prunable
    assert "graph output" in cls.reason
    prove_random_plans(model, groups)


def test_yolo_head_emptied_branch_folds_into_the_concat():
    """Emptying a branch's hidden channels folds its last conv into a constant that the
    Concat needs at full, run-time spatial size (nudenet's failure before)."""
    model = ec.yolo_head()
    groups = analyze(model)
    hidden = group_of(groups, "box1_h")
    assert hidden.prunable and not hidden.cut
    pruned = prove_at_shapes(model, groups, PruningPlan({hidden.id: []}))
    assert "Expand" in [n.op_type for n in pruned.proto.graph.node]


# -------------------------------------------------------------------------- NHWC

@pytest.mark.parametrize("opset", [11, 13, 17, 18, 21])
def test_nhwc_graph_from_tf2onnx(opset):
    model = ec.nhwc_convs(opset=opset)
    groups = analyze(model)
    assert sorted(g.size for g in groups.prunable()) == [6, 8]
    g8 = next(g for g in groups.prunable() if g.size == 8)
    last_axis = [m for m in g8.members if m.is_param and m.node.startswith(("Mul", "Add"))]
    assert len(last_axis) == 4 and all(m.axis == 0 for m in last_axis)  # BN as [C] along the last axis
    assert any(not m.is_param and m.axis == 3 for m in g8.members)  # channels last
    prove_random_plans(model, groups, shapes=NHWC_SHAPES)


# ---------------------------------------------------------------- Constant weights

CONSTANT_NODE_CASES = ["residual_add", "shared_bias", "squeeze_excite", "depthwise", "flatten_gemm",
                       "conv_transpose", "grouped_conv"]


def batch_shapes(model) -> list[dict]:
    x = model.graph.input[0]
    dims = [d.dim_value for d in x.type.tensor_type.shape.dim]
    return [{x.name: [2] + dims[1:]}, {x.name: [1] + dims[1:]}]


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("name", CONSTANT_NODE_CASES)
def test_weights_in_constant_nodes_group_like_initializers(name, opset):
    reference = analyze(ec.EDGE_CASES[name](opset=opset))
    model = ec.as_constant_nodes(ec.EDGE_CASES[name](opset=opset))
    assert not model.graph.initializer
    groups = analyze(model)
    summary = lambda gs: sorted((g.size, g.prunable, g.cut, g.blocks, len(g.members)) for g in gs)
    assert summary(groups) == summary(reference)
    prove_random_plans(model, groups, shapes=batch_shapes(model))


def test_shared_constant_node_bias_is_copied_not_sliced():
    model = ec.as_constant_nodes(ec.shared_bias())
    groups = analyze(model)
    c1 = next(g for g in groups.prunable() if any(m.tensor.startswith("c1_") for m in g.members))
    pruned = prove_at_shapes(model, groups, PruningPlan({c1.id: [0, 1, 2]}), batch_shapes(model))
    convs = [n for n in pruned.proto.graph.node if n.op_type == "Conv"]
    sizes = {t.name: list(t.dims) for t in pruned.proto.graph.initializer}
    consts = {n.output[0]: list(n.attribute[0].t.dims) for n in pruned.proto.graph.node if n.op_type == "Constant"}
    bias = lambda conv: sizes.get(conv.input[2], consts.get(conv.input[2]))
    assert bias(convs[0]) == [3] and bias(convs[1]) == [8]
