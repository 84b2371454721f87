"""Magnitude saliency: zeroed channels score lowest (exactly 0), every weight member counts
(BN scale, Gemm blocks after a Flatten), and a layer's overall scale does not matter."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from halp_graph.errors import TargetError
from halp_graph.graph import analyze
from halp_graph.models import edge_cases as ec
from halp_graph.models.builder import GraphBuilder
from halp_graph.saliency import magnitude_scores, score
from halp_graph.saliency.magnitude import weight_members


def edit_initializers(model: onnx.ModelProto, edit) -> onnx.ModelProto:
    """A copy of `model` with edit(name, array) -> array applied to every initializer."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for init in out.graph.initializer:
        arr = numpy_helper.to_array(init).copy()
        new = edit(init.name, arr)
        if new is not None:
            init.CopyFrom(numpy_helper.from_array(new.astype(arr.dtype), init.name))
    return out


def zero_channel(model, groups, gid, channel):
    """Zero every constant of group `gid` (weights, biases, BN parameters) at `channel`."""
    members = {}
    for m in groups[gid].members:
        if m.is_param:
            members.setdefault(m.tensor, []).append(m)

    def edit(name, arr):
        if name not in members:
            return None
        for m in members[name]:
            index = [slice(None)] * arr.ndim
            index[m.axis] = m.elements([channel])
            arr[tuple(index)] = 0
        return arr
    return edit_initializers(model, edit)


def bn_model():
    b = GraphBuilder("bn_net", 17, "N")
    x = b.relu(b.bn(b.conv(b.input("x", 3), 6, bias=False, hint="c1")))
    x = b.relu(b.bn(b.conv(x, 8, bias=False, hint="c2")))
    b.output(b.gemm(b.flatten(b.gap(x)), 4))
    return b.build()


CASES = ["residual_add", "depthwise", "grouped_conv", "flatten_gemm", "squeeze_excite",
         "concat_branches", "transformer_mlp"]


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_a_zeroed_channel_scores_lowest(name, norm):
    model = ec.EDGE_CASES[name]()
    groups = analyze(model)
    for group in groups.prunable():
        channel = group.size // 2
        zeroed = zero_channel(model, groups, group.id, channel)
        scores = magnitude_scores(analyze(zeroed), norm=norm)[group.id]
        assert scores[channel] == 0.0
        assert np.all(np.delete(scores, channel) > 0)


def test_bn_scale_is_a_member_and_biases_are_not():
    model = bn_model()
    groups = analyze(model)
    group = next(g for g in groups.prunable() if g.size == 6)
    ops = {groups.graph.nodes_by_name[m.node].op_type for m in weight_members(groups, group)}
    assert ops == {"Conv", "BatchNormalization"}
    bn_scales = {m.tensor for m in group.members if m.is_param and m.slot == 1
                 and groups.graph.nodes_by_name[m.node].op_type == "BatchNormalization"}
    # a channel whose BN scale is zero loses that member's share only
    zeroed = edit_initializers(model, lambda n, a: _zero_first(a) if n in bn_scales else None)
    before = magnitude_scores(groups)[group.id]
    after = magnitude_scores(analyze(zeroed))[group.id]
    assert after[0] < before[0] and np.argmin(after) == 0
    # biases (BN shift, mean, variance) do not count
    shifted = edit_initializers(model, lambda n, a: a * 100 if "bn_bias" in n or "bn_mean" in n else None)
    assert np.allclose(magnitude_scores(analyze(shifted))[group.id], before)


def _zero_first(arr):
    arr[0] = 0
    return arr


def test_scaling_a_layer_does_not_change_scores():
    model = ec.residual_add()
    groups = analyze(model)
    scaled = edit_initializers(model, lambda n, a: a * 1000 if n.startswith("a_w") else None)
    before, after = magnitude_scores(groups), magnitude_scores(analyze(scaled))
    for gid in before:
        assert np.allclose(before[gid], after[gid])


def test_flatten_gemm_blocks_are_scored_whole():
    model = ec.flatten_gemm()
    groups = analyze(model)
    group = groups.prunable()[0]
    fc = next(m for m in weight_members(groups, group) if m.block > 1)
    # zero the Gemm weights of channel 1 only: its Gemm share drops to 0, the conv's stays
    zeroed = edit_initializers(model, lambda n, a: _zero_columns(a, fc.elements([1])) if n == fc.tensor else None)
    scores = magnitude_scores(analyze(zeroed))[group.id]
    assert np.argmin(scores) == 1
    conv_only = magnitude_scores(groups)[group.id][1] - scores[1]
    assert conv_only > 0


def _zero_columns(arr, columns):
    arr[:, columns] = 0
    return arr


def test_unknown_norm_is_refused():
    groups = analyze(ec.residual_add())
    with pytest.raises(TargetError, match="unknown magnitude norm"):
        score(groups, method="magnitude", norm="l3")
    with pytest.raises(TargetError, match="unknown saliency method"):
        score(groups, method="taylor")
