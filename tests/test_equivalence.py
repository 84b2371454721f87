"""The equivalence check can fail: a wrong weight is caught, outputs too small to prove
anything are reported vacuous (not passed), the tolerance scales with the outputs, NaN
fails, and a model with dynamic axes is checked at every shape given."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from halp_graph.equivalence import (NOT_EQUIVALENT, VACUOUS, NotEquivalent, assert_equivalent,
                                    check_equivalence, compare_outputs)
from halp_graph.graph import analyze, from_proto
from halp_graph.models.builder import GraphBuilder
from halp_graph.passes import prune_channels
from halp_graph.plan import PruningPlan


def residual_net(out_scale: float = 1.0, dynamic: bool = False) -> onnx.ModelProto:
    """stem -> [conv -> relu -> conv] + stem -> pool -> fc, the fc scaled by `out_scale`;
    `dynamic`: the input's height and width are symbolic too (the net accepts any size)."""
    b = GraphBuilder("eq_net", 17, "N", seed=0)
    stem = b.relu(b.conv(b.input("x", 3, (8, 8)), 8, hint="stem"))
    inner = b.relu(b.conv(stem, 6, hint="inner"))
    out = b.relu(b.add(b.conv(inner, 8, hint="back"), stem))
    b.output(b.gemm(b.flatten(b.gap(out)), 4))
    model = b.build()
    for init in model.graph.initializer:
        if init.name.startswith("fc_"):
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(out_scale),
                                                  init.name))
    if dynamic:
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "H", "W"
    onnx.checker.check_model(model, full_check=True)
    return model


def prune(model: onnx.ModelProto):
    """(original, pruned, plan, groups) for a plan that keeps half the inner channels."""
    loaded = from_proto(model)
    groups = analyze(loaded)
    inner = next(g for g in groups.prunable() if g.size == 6)
    plan = PruningPlan({inner.id: [0, 2, 5]})
    return loaded, prune_channels(loaded, plan, groups), plan, groups


def nudge_weight(pruned, prefix: str, delta: float):
    """A copy of the pruned model with one element of the weight named `prefix...` moved."""
    proto = onnx.ModelProto()
    proto.CopyFrom(pruned.proto)
    init = next(t for t in proto.graph.initializer if t.name.startswith(prefix))
    w = numpy_helper.to_array(init).copy()
    w.flat[0] += delta
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    return from_proto(proto)


def test_an_honest_rewrite_is_equivalent_and_not_vacuous():
    original, pruned, plan, groups = prune(residual_net())
    c = check_equivalence(original, pruned, plan, groups)
    assert c.ok and c.status == "equivalent" and not c.vacuous
    assert c.scale > 0.1 and c.ratio < 0.1
    assert c.summary().startswith("equivalent: max abs error")
    assert assert_equivalent(original, pruned, plan, groups) == c.max_abs


def test_a_wrong_weight_is_not_equivalent():
    original, pruned, plan, groups = prune(residual_net())
    wrong = nudge_weight(pruned, "inner_w", 0.05)
    c = check_equivalence(original, wrong, plan, groups)
    assert not c.ok and c.status == NOT_EQUIVALENT and c.ratio > 1
    with pytest.raises(NotEquivalent, match="NOT equivalent") as info:
        assert_equivalent(original, wrong, plan, groups)
    assert info.value.comparison.status == NOT_EQUIVALENT


def test_outputs_of_1e_12_are_vacuous_even_when_they_agree():
    original, pruned, plan, groups = prune(residual_net(out_scale=1e-12))
    c = check_equivalence(original, pruned, plan, groups)
    assert c.vacuous and c.status == VACUOUS and not c.ok
    assert 0 < c.scale < 1e-10 and c.max_abs < 1e-15
    assert "proves nothing" in c.summary()
    with pytest.raises(NotEquivalent, match="vacuous"):
        assert_equivalent(original, pruned, plan, groups)


def test_a_wrong_weight_on_tiny_outputs_is_still_vacuous_not_a_pass():
    """The old elementwise atol of 1e-5 passed this; the scaled tolerance cannot pass it,
    and with every output below 1e-6 it is at best vacuous."""
    original, pruned, plan, groups = prune(residual_net(out_scale=1e-12))
    c = check_equivalence(original, nudge_weight(pruned, "inner_w", 0.05), plan, groups)
    assert not c.ok and c.status in (VACUOUS, NOT_EQUIVALENT)


@pytest.mark.parametrize("scale,passes", [(1.0, True), (0.01, False)])
def test_the_tolerance_scales_with_the_outputs(scale, passes):
    ref = (scale * np.linspace(-1, 1, 12, dtype=np.float32)).reshape(3, 4)
    got = ref.copy()
    got[1, 2] += np.float32(5e-5)
    c = compare_outputs(["y"], [got], [ref])
    assert c.ok is passes and c.status == ("equivalent" if passes else NOT_EQUIVALENT)
    assert c.scale == pytest.approx(scale) and c.worst.tolerance == pytest.approx(1e-4 * scale + 1e-7)
    assert c.max_abs == pytest.approx(5e-5, rel=1e-2)


@pytest.mark.parametrize("where", ["pruned", "masked"])
def test_nan_anywhere_fails(where):
    ref = np.ones((2, 3), np.float32)
    got = ref.copy()
    (got if where == "pruned" else ref)[0, 1] = np.nan
    c = compare_outputs(["y"], [got], [ref])
    assert not c.ok and c.status == NOT_EQUIVALENT and "NaN" in c.summary()


def test_a_different_output_shape_is_not_equivalent():
    c = compare_outputs(["y"], [np.ones((2, 3), np.float32)], [np.ones((2, 4), np.float32)])
    assert c.status == NOT_EQUIVALENT and "different shape" in c.summary()


def test_every_output_counts():
    small, large = np.full((2,), 1e-9, np.float32), np.ones((2,), np.float32)
    assert compare_outputs(["a", "b"], [small, large], [small, large]).ok  # one output is enough
    wrong = large + np.float32(1e-3)
    c = compare_outputs(["a", "b"], [small, wrong], [small, large])
    assert not c.ok and c.worst_output == "b"


def error_growing_with_height(pruned, delta: float = 1e-2):
    """The pruned model plus delta * (H - 8) on its output: right at height 8 only."""
    proto = onnx.ModelProto()
    proto.CopyFrom(pruned.proto)
    g = proto.graph
    out = g.output[0].name
    g.initializer.extend([numpy_helper.from_array(np.array([2], np.int64), "h_index"),
                          numpy_helper.from_array(np.array([8.0], np.float32), "h_ref"),
                          numpy_helper.from_array(np.array([delta], np.float32), "h_delta")])
    g.node.extend([
        helper.make_node("Shape", [g.input[0].name], ["x_shape"]),
        helper.make_node("Gather", ["x_shape", "h_index"], ["h"]),
        helper.make_node("Cast", ["h"], ["h_float"], to=TensorProto.FLOAT),
        helper.make_node("Sub", ["h_float", "h_ref"], ["h_off"]),
        helper.make_node("Mul", ["h_off", "h_delta"], ["err"]),
        helper.make_node("Add", [out, "err"], ["y_wrong"]),
    ])
    for node in g.node:
        for i, name in enumerate(node.output):
            if name == out:
                node.output[i] = "y_right"
    for node in g.node:
        for i, name in enumerate(node.input):
            if name == out:
                node.input[i] = "y_right"
    next(n for n in g.node if n.output[0] == "y_wrong").output[0] = out
    return from_proto(proto)


SHAPES = [{"x": [1, 3, 8, 8]}, {"x": [2, 3, 12, 10]}]


def test_a_dynamic_model_is_checked_at_every_shape():
    original, pruned, plan, groups = prune(residual_net(dynamic=True))
    c = check_equivalence(original, pruned, plan, groups, shapes=SHAPES)
    assert c.ok and c.shapes == 2
    assert [o.shape for o in c.outputs] == ["x:1,3,8,8", "x:2,3,12,10"]
    assert "2 input shapes" in c.summary()

    wrong = error_growing_with_height(pruned)
    assert check_equivalence(original, wrong, plan, groups, shapes=SHAPES[:1]).ok
    c = check_equivalence(original, wrong, plan, groups, shapes=SHAPES)
    assert c.status == NOT_EQUIVALENT and c.worst.shape == "x:2,3,12,10"
    assert "at x:2,3,12,10" in c.summary()


def test_shapes_that_do_not_fit_the_model_are_refused():
    original, pruned, plan, groups = prune(residual_net())
    with pytest.raises(ValueError, match="not an input"):
        check_equivalence(original, pruned, plan, groups, shapes=[{"image": [1, 3, 8, 8]}])
    with pytest.raises(ValueError, match="does not fit"):
        check_equivalence(original, pruned, plan, groups, shapes=[{"x": [1, 3, 16, 16]}])


def test_the_old_positional_signature_still_works():
    original, pruned, plan, groups = prune(residual_net())
    c = check_equivalence(original, pruned, plan, groups, 1e-4, 1e-7, 1, 3)
    assert c.ok and c.outputs[0].shape == ""


def test_verify_exits_1_on_a_vacuous_check(tmp_path):
    original, pruned, plan, _ = prune(residual_net(out_scale=1e-12))
    onnx.save(original.proto, str(tmp_path / "a.onnx"))
    onnx.save(pruned.proto, str(tmp_path / "b.onnx"))
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_json()))
    r = subprocess.run([sys.executable, "-m", "halp_graph", "verify", str(tmp_path / "a.onnx"),
                        str(tmp_path / "b.onnx"), "--plan", str(tmp_path / "plan.json")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout.startswith("vacuous: max abs error"), r.stdout + r.stderr
