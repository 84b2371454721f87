"""Exact groups of every hand-built edge case: members, offsets, blocks, cuts, reasons."""

from __future__ import annotations

import numpy as np
import pytest

from halp_graph.graph import analyze
from halp_graph.models import edge_cases as ec


def group_of(groups, tensor_prefix: str, axis: int = 1, elem_start: int = 0):
    for g in groups:
        for m in g.activation_members():
            if m.tensor.startswith(tensor_prefix) and m.axis == axis and m.elem_start == elem_start:
                return g
    raise AssertionError(f"no group with a member {tensor_prefix}* at element {elem_start}")


def member(group, tensor_prefix: str):
    found = [m for m in group.members if m.tensor.startswith(tensor_prefix)]
    assert found, f"{group.id} has no member {tensor_prefix}*"
    return found[0]


def test_residual_add_ties_stream_and_keeps_inner_apart():
    gs = analyze(ec.residual_add())
    assert len(gs) == 4 and len(gs.prunable()) == 2
    stream, inner = group_of(gs, "stem_"), group_of(gs, "a_")
    assert stream is group_of(gs, "b_") is group_of(gs, "add_")
    assert stream.size == 8 and stream.cut
    assert inner.size == 6 and not inner.cut and inner.min_keep == 0
    assert {m.tensor for m in inner.activation_members()} == {"a_9", "relu_11"}
    assert group_of(gs, "x").reason == "graph input 'x'"


def test_concat_second_input_is_an_offset():
    gs = analyze(ec.concat_branches())
    left, right = group_of(gs, "left_"), group_of(gs, "right_")
    assert (left.size, right.size) == (4, 6)
    assert member(left, "concat").elem_start == 0
    cat = member(right, "concat")
    assert cat.elem_start == 4 and cat.to_json(6)["offset"] == 4
    post_w = [m for m in right.members if m.tensor.startswith("post_w") and m.axis == 1]
    assert post_w[0].elem_start == 4
    assert not left.cut and not right.cut and group_of(gs, "stem_").cut


def test_split_cuts_the_producer_into_two_groups():
    gs = analyze(ec.split_paths())
    first, second = group_of(gs, "stem_", elem_start=0), group_of(gs, "stem_", elem_start=3)
    assert first is not second and (first.size, second.size) == (3, 5)
    assert member(first, "split_").elem_start == 0 and member(second, "split_").elem_start == 0
    assert member(second, "stem_w").elem_start == 3
    assert not first.cut and not second.cut


def test_depthwise_ties_input_to_output_and_multiplier_is_a_block():
    gs = analyze(ec.depthwise())
    stem = group_of(gs, "stem_")
    assert stem is group_of(gs, "dw_")
    pw = group_of(gs, "pw_")
    assert member(pw, "dw_mult2_").block == 2 and pw.size == 6
    assert len(gs.prunable()) == 3


def test_grouped_conv_needs_equal_blocks():
    gs = analyze(ec.grouped_conv())
    assert group_of(gs, "stem_").blocks == 2
    assert group_of(gs, "grouped_").blocks == 2
    assert group_of(gs, "pw_").blocks == 1


def test_squeeze_excite_scale_ties_and_hidden_units_are_not_a_cut():
    gs = analyze(ec.squeeze_excite())
    main = group_of(gs, "stem_")
    assert main is group_of(gs, "se_expand_") is group_of(gs, "mul_")
    hidden = group_of(gs, "se_reduce_")
    assert hidden.size == 2 and not hidden.cut and hidden.prunable


def test_flatten_into_gemm_is_a_block_of_features():
    gs = analyze(ec.flatten_gemm())
    conv = group_of(gs, "conv_")
    flat = member(conv, "flatten_")
    assert flat.block == 16 and flat.elem_start == 0
    fc_w = [m for m in conv.members if m.tensor.startswith("fc_w")][0]
    assert (fc_w.axis, fc_w.block) == (1, 16)


def test_shared_bias_does_not_couple_its_users():
    gs = analyze(ec.shared_bias())
    c1, c2 = group_of(gs, "c1_"), group_of(gs, "c2_")
    assert c1 is not c2 and c1.prunable and c2.prunable
    uses = {m.use.split("#")[0] for g in (c1, c2) for m in g.members if m.tensor.startswith("shared_bias")}
    assert len(uses) == 2


def test_conv_without_bias_groups_with_its_batchnorm():
    gs = analyze(ec.conv_no_bias())
    g = group_of(gs, "c1_")
    assert {m.slot for m in g.members if m.node and m.node.startswith("BatchNormalization")} == {1, 2, 3, 4}


def test_op_without_rule_freezes_what_it_touches():
    gs = analyze(ec.no_rule())
    for prefix in ("c1_", "cumsum_"):
        g = group_of(gs, prefix)
        assert not g.prunable and "no channel rule for CumSum" in g.reason
    assert group_of(gs, "c2_").prunable


def test_channel_softmax_freezes():
    gs = analyze(ec.channel_softmax())
    g = group_of(gs, "c1_")
    assert not g.prunable and "Softmax" in g.reason and "channel axis" in g.reason


def test_slice_splits_channels_into_ranges():
    gs = analyze(ec.slice_channels())
    sizes = sorted(group_of(gs, "c1_", elem_start=s).size for s in (0, 2, 6))
    assert sizes == [2, 2, 4]
    middle = group_of(gs, "c1_", elem_start=2)
    assert member(middle, "slice_").elem_start == 0


def test_reshape_into_gemm_and_concat_of_flattened_branches():
    gs = analyze(ec.reshape_into_gemm(batch=1))
    assert member(group_of(gs, "conv_"), "reshape_").block == 16
    gs = analyze(ec.concat_flatten_gemm())
    c = group_of(gs, "c_")
    cat = member(c, "concat_")
    assert (cat.elem_start, cat.block) == (48, 4)
    assert cat.to_json(c.size)["offset"] == 12


def test_transformer_mlp_hidden_is_a_group_and_width_frozen():
    gs = analyze(ec.transformer_mlp())
    hidden = next(g for g in gs if any(m.tensor == "matmul_2" for m in g.members))
    assert hidden.size == 16 and hidden.prunable
    width = group_of(gs, "tokens", axis=2)
    assert not width.prunable and "graph input" in width.reason


def test_spatial_attention_map_is_broadcast_not_tied():
    gs = analyze(ec.spatial_attention())
    att = group_of(gs, "att_")
    assert att.size == 1 and att is not group_of(gs, "c1_")


# Before opset 14 batch norm's training mode is spelled differently and runs differently
# (test_batchnorm_in_training_mode_before_opset_14_freezes_the_axes_it_takes_statistics_over).
@pytest.mark.parametrize("name,opset", [(n, o) for n in sorted(ec.EDGE_CASES) for o in (11, 13, 18, 21)
                                        if not (n == "weight_batchnorm_standardized" and o < 14)])
def test_groups_do_not_depend_on_opset_encoding(name, opset):
    ref = analyze(ec.EDGE_CASES[name](opset=17))
    got = analyze(ec.EDGE_CASES[name](opset=opset))
    assert [(g.size, g.prunable, g.cut, g.blocks) for g in got] == \
           [(g.size, g.prunable, g.cut, g.blocks) for g in ref]


@pytest.mark.parametrize("name", sorted(ec.EDGE_CASES))
def test_every_frozen_group_says_why(name):
    for g in analyze(ec.EDGE_CASES[name]()):
        assert g.prunable == (g.reason is None)


def test_weight_computed_from_constants_is_followed_to_its_initializers():
    gs = analyze(ec.weight_standardized())
    c1 = group_of(gs, "c1_")
    assert c1.prunable and {m.use for m in c1.members if m.tensor.startswith("std_w")} == {"Sub_12#0"}
    out = next(g for g in gs if any(m.tensor.startswith("std_w") and m.axis == 0 for m in g.members))
    assert out.prunable and out.size == 6
    assert {m.use for m in out.members if m.tensor.startswith("std_w")} == {"ReduceMean_9#0", "Sub_12#0"}
    assert any(m.tensor.startswith("gain") for m in out.members)


def test_a_weight_standardised_over_a_reshaped_copy_gets_a_value_of_its_own():
    """NF-ResNet's standardisation (batch norm in training mode over the weight reshaped
    to [1, out, in*k*k]): no slice of the initializer gives what the masked model
    computes, so the computed weight becomes a parameter with its own value, and both its
    channel axes are prunable."""
    model = ec.weight_batchnorm_standardized()
    gs = analyze(model)
    c1 = group_of(gs, "c1_")
    assert c1.prunable and {m.axis for m in c1.members if m.use} >= {1}
    weight = next(m for m in c1.members if m.use and m.axis == 1 and gs.graph.producer.get(m.tensor)
                  and gs.graph.producer[m.tensor].op_type == "Reshape")
    t = gs.graph.tensor(weight.tensor)
    assert t.computed is not None and [n.op_type for n in t.computed.nodes] == ["Reshape", "BatchNormalization", "Reshape"]
    w = gs.graph.const(t.computed.leaves[0]).reshape(6, -1).astype(np.float64)
    expected = (w - w.mean(axis=1, keepdims=True)) / np.sqrt(w.var(axis=1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(t.value().reshape(6, -1), expected, rtol=1e-4, atol=1e-5)
    out = next(g for g in gs if g.prunable and g.size == 6)
    assert any(m.tensor == weight.tensor and m.axis == 0 for m in out.members)


@pytest.mark.parametrize("opset", [11, 13])
def test_batchnorm_in_training_mode_before_opset_14_freezes_the_axes_it_takes_statistics_over(opset):
    """There training mode is spelled by the statistics outputs, and ONNX Runtime computes
    neither mode's result: the weight is left to the rules, which freeze its input axis."""
    gs = analyze(ec.weight_batchnorm_standardized(opset))
    assert all(t.computed is None for t in gs.graph.tensors.values())
    c1 = group_of(gs, "c1_")
    assert not c1.prunable and "computes statistics over axis 2" in c1.reason
    out = next(g for g in gs if any(m.tensor.startswith("nf_w") and m.axis == 0 for m in g.members))
    assert out.prunable and out.size == 6


