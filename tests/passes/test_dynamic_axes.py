"""The rewrite keeps a model's dynamic axes: every shape value it touches (Reshape, Split,
Slice, Resize, Expand, ConstantOfShape and Tile inputs, Shape -> Gather arithmetic, the
shapes of folded layers) is computed at run time where a dimension is symbolic, and the
rewritten model is proven equal to the channel-masked original at two input shapes."""

from __future__ import annotations

import pytest
from onnx import numpy_helper

from halp_graph.graph import analyze
from halp_graph.models import edge_cases as ec
from halp_graph.plan import PruningPlan
from halp_graph.testing import random_plan
from shape_checks import NCHW_SHAPES, changes_outputs, prove_at_shapes

OPSETS = [11, 13, 17, 21]


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("name", sorted(ec.DYNAMIC_CASES))
def test_random_plans_at_two_shapes(name, opset):
    model = ec.DYNAMIC_CASES[name](opset=opset)
    groups = analyze(model)
    assert len(groups.prunable()) >= 2, [g.reason for g in groups]
    proved, changed = 0, 0
    for seed in range(6):
        plan = random_plan(groups, seed=seed, p_touch=0.9)
        if plan.removes_anything(groups):
            pruned = prove_at_shapes(model, groups, plan, expect_change=False)
            proved += 1
            changed += changes_outputs(model, pruned, NCHW_SHAPES[0])
    assert proved >= 3 and changed >= 1


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("name", sorted(ec.DYNAMIC_CASES))
def test_every_group_down_to_one_channel(name, opset):
    model = ec.DYNAMIC_CASES[name](opset=opset)
    groups = analyze(model)
    plan = PruningPlan({g.id: [g.size - 1] for g in groups.prunable()})
    prove_at_shapes(model, groups, plan)


@pytest.mark.parametrize("opset", [11, 17])
def test_emptied_branches_fold_to_constants_of_run_time_shape(opset):
    model = ec.dynamic_emptied_branches(opset=opset)
    groups = analyze(model)
    inner = [g for g in groups.prunable() if not g.cut and g.size == 4]
    assert len(inner) == 2  # the two branches' hidden channels
    for group in inner:
        pruned = prove_at_shapes(model, groups, PruningPlan({group.id: []}))
        ops = [n.op_type for n in pruned.proto.graph.node]
        assert "Expand" in ops and ops.count("Conv") + ops.count("ConvTranspose") == 4  # of 6


def test_channel_count_used_as_a_number_keeps_its_original_value():
    """y / sqrt(C): the channel-masked model divides by the original C, so must the
    pruned one (the value is rebuilt as a constant, not read from the pruned shape)."""
    model = ec.dynamic_shape_arithmetic()
    groups = analyze(model)
    c1 = next(g for g in groups.prunable() if g.size == 8)
    pruned = prove_at_shapes(model, groups, PruningPlan({c1.id: [0, 3, 5]}))
    consts = [numpy_helper.to_array(t).reshape(-1).tolist() for t in pruned.proto.graph.initializer]
    assert [8] in consts


def test_shape_values_of_unpruned_axes_stay_dynamic():
    """Only the channel entry becomes a constant: the pruned Reshape target still reads
    N and H*W at run time, so other input sizes keep working."""
    model = ec.dynamic_reshape()
    groups = analyze(model)
    c1 = next(g for g in groups.prunable() if g.size == 8)
    pruned = prove_at_shapes(model, groups, PruningPlan({c1.id: [1, 2, 6]}),
                             shapes=NCHW_SHAPES + [{"x": [3, 3, 5, 16]}])
    ops = [n.op_type for n in pruned.proto.graph.node]
    assert ops.count("Shape") >= 3


@pytest.mark.parametrize("builder, reason", [
    (ec.shape_into_output, "reads the channel count of 'relu_5' into graph output"),
    (ec.shape_through_computed_index, "reads the channel count of 'relu_5' into Cast"),
])
def test_channel_counts_the_rewrite_cannot_rebuild_are_frozen(builder, reason):
    groups = analyze(builder())
    frozen = [g for g in groups if g.size == 8]
    assert len(frozen) == 1 and not frozen[0].prunable
    assert reason in frozen[0].reason
