"""The rewrite on every hand-built graph: random plans prove equivalent, and the layouts
exporters produce (shared biases, no bias, external data, symbolic batch) survive."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest

from conftest import prove_plan
from halp_graph.graph import analyze, load_model
from halp_graph.models import edge_cases as ec
from halp_graph.passes import PruneChannelsPass, as_ir_model, prune_channels
from halp_graph.plan import PruningPlan
from halp_graph.testing import random_plan


@pytest.mark.parametrize("name", sorted(ec.EDGE_CASES))
@pytest.mark.parametrize("opset", [11, 17, 21])
def test_random_plans_are_equivalent(name, opset):
    model = ec.EDGE_CASES[name](opset=opset)
    groups = analyze(model)
    for seed in range(8):
        plan = random_plan(groups, seed=seed)
        if plan.removes_anything(groups):
            prove_plan(model, groups, plan)


def test_single_channel_and_emptied_branch():
    model = ec.residual_add()
    groups = analyze(model)
    inner = [g for g in groups.prunable() if not g.cut][0]
    stream = [g for g in groups.prunable() if g.cut][0]
    prove_plan(model, groups, PruningPlan({stream.id: [3]}))
    pruned = prove_plan(model, groups, PruningPlan({inner.id: []}))
    ops = [n.op_type for n in pruned.proto.graph.node]
    assert ops.count("Conv") == 1  # both branch convs are gone, the stem stays


def test_emptied_squeeze_excite_folds_to_a_constant_scale():
    model = ec.squeeze_excite()
    groups = analyze(model)
    hidden = [g for g in groups.prunable() if not g.cut][0]
    pruned = prove_plan(model, groups, PruningPlan({hidden.id: []}))
    assert [n.op_type for n in pruned.proto.graph.node].count("Conv") == 2


def test_shared_bias_is_copied_not_sliced_for_the_other_user():
    model = ec.shared_bias()
    groups = analyze(model)
    c1 = groups.by_id[next(g.id for g in groups.prunable()
                           if any(m.tensor.startswith("c1_") for m in g.members))]
    pruned = prove_plan(model, groups, PruningPlan({c1.id: [0, 1, 2]}))
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in pruned.proto.graph.initializer}
    assert inits["shared_bias_1"].shape == (8,)  # the second conv still reads all 8
    conv1 = pruned.proto.graph.node[0]
    assert inits[conv1.input[2]].shape == (3,)


def test_grouped_conv_blocks_are_respected():
    model = ec.grouped_conv()
    groups = analyze(model)
    g_in = next(g for g in groups.prunable() if g.blocks == 2 and g.size == 8)
    prove_plan(model, groups, PruningPlan({g_in.id: [1, 2, 4, 7]}))


def test_symbolic_batch_survives_the_rewrite():
    model = ec.squeeze_excite(batch="N")
    groups = analyze(model)
    pruned = prove_plan(model, groups, random_plan(groups, seed=3, p_touch=1.0))
    dim = pruned.proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert dim.dim_param == "N"


def test_external_data_stays_external(tmp_path):
    from halp_graph.onnx_io import save_model
    path = str(tmp_path / "ext.onnx")
    onnx.save_model(ec.residual_add(), path, save_as_external_data=True, location="ext.onnx.data",
                    size_threshold=0)
    model = load_model(path)
    groups = analyze(model)
    inner = next(g for g in groups.prunable() if not g.cut)
    plan = PruningPlan({inner.id: list(range(1, inner.size))})  # weights stay over 1 KB
    pruned = prove_plan(model, groups, plan)
    out = str(tmp_path / "out.onnx")
    save_model(pruned, out)
    assert (tmp_path / "out.onnx.data").exists()
    assert load_model(out).has_external_data
    umask = os.umask(0)
    os.umask(umask)
    for name in ("out.onnx", "out.onnx.data"):  # as open() would create them, not private
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


def test_pass_declares_itself_and_reports_no_change_for_an_empty_plan():
    model = ec.residual_add()
    p = PruneChannelsPass(PruningPlan({}))
    assert p.in_place is False and p.changes_input is False
    ir_model = as_ir_model(model)
    result = p(ir_model)
    assert result.modified is False and result.model is not ir_model


def test_the_input_model_is_not_modified():
    model = ec.concat_branches()
    before = model.SerializeToString()
    groups = analyze(model)
    prune_channels(model, random_plan(groups, seed=0, p_touch=1.0), groups)
    assert model.SerializeToString() == before


def test_bias_fold_feeds_the_residual_add_directly():
    """An emptied bottleneck leaves conv b's bias as a constant added to the stream: no
    Expand, so ONNX Runtime folds it (HALP's bias folding)."""
    model = ec.residual_add()
    groups = analyze(model)
    inner = [g for g in groups.prunable() if not g.cut][0]
    pruned = prune_channels(model, PruningPlan({inner.id: []}), groups)
    assert "Expand" not in [n.op_type for n in pruned.proto.graph.node]
    consts = [onnx.numpy_helper.to_array(t) for t in pruned.proto.graph.initializer]
    assert any(c.shape == (1, 8, 1, 1) for c in consts)
    assert np.isfinite(np.concatenate([c.ravel() for c in consts])).all()
