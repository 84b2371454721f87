"""Cutting layers with their fused tails, and rebuilding them at other widths."""

from __future__ import annotations

import numpy as np
import onnx
import onnx_graphsurgeon as gs
import pytest

from halp_graph.graph import analyze
from halp_graph.latency.subgraph import layer_specs
from halp_graph.models import edge_cases as ec
from halp_graph.models.builder import GraphBuilder
from halp_graph.testing import session


def bottleneck():
    b = GraphBuilder("bottleneck", 17, 1)
    stem = b.relu(b.bn(b.conv(b.input("x", 3, (8, 8)), 16, hint="stem")))
    inner = b.relu(b.conv(stem, 8, k=1, hint="reduce"))
    down = b.conv(stem, 16, k=1, hint="down")
    out = b.relu(b.add(b.conv(inner, 16, k=1, hint="expand"), down))
    silu = b.mul(out, b.act("Sigmoid", out))
    b.output(b.gemm(b.flatten(b.gap(silu)), 4))
    return b.build()


def test_tails_hold_what_backends_fuse():
    model = bottleneck()
    specs = layer_specs(analyze(model))
    by_kind = {spec.describe(): spec for spec in specs.values()}
    stem = next(s for s in specs.values() if s.full_in == 3)
    assert [t.op_type for t in stem.tail] == ["BatchNormalization", "Relu"]
    # The join of the expand conv and the downsample goes to the one computed last, once.
    adds = [s for s in specs.values() if any(t.op_type == "Add" for t in s.tail)]
    assert len(adds) == 1
    assert [t.op_type for t in adds[0].tail] == ["Add", "Relu", "Sigmoid", "Mul"]
    assert adds[0].externals and adds[0].externals[0].channel_axis == 1
    assert len(by_kind) >= 4


@pytest.mark.parametrize("make", [bottleneck, lambda: ec.squeeze_excite(batch=1),
                                  lambda: ec.depthwise(batch=1)])
def test_rebuilt_layer_computes_what_the_model_computes(make):
    """At full width with the model's own weights, the rebuilt subgraph equals the same
    region cut out of the model with onnx-graphsurgeon."""
    model = make()
    groups = analyze(model)
    graph = gs.import_onnx(model)
    for name, spec in layer_specs(groups).items():
        weight = groups.graph.const(spec.weight_name)
        params = {"weight": weight}
        if spec.bias_name:
            params["bias"] = groups.graph.const(spec.bias_name)
        rebuilt = spec.to_onnx(spec.full_in, spec.full_out, params=params)
        node = groups.graph.nodes_by_name[name]
        ext_names = _external_names(groups, spec, node)
        out_names = _output_names(groups, spec, node)
        cut = graph.copy()
        ct = cut.tensors()
        cut.inputs = [ct[node.inputs[0]].to_variable(dtype=np.float32, shape=list(spec.input.shape))] + \
            [ct[n].to_variable(dtype=np.float32, shape=list(e.shape)) for n, e in zip(ext_names, spec.externals)]
        cut.outputs = [ct[n].to_variable(dtype=np.float32) for n in out_names]
        cut.cleanup()
        cut_model = gs.export_onnx(cut)
        feeds = spec.feeds(spec.full_in, spec.full_out)
        got = session(rebuilt).run(None, feeds)
        want = session(cut_model).run(None, {node.inputs[0]: feeds["x"],
                                              **{n: feeds[f"e{i}"] for i, n in enumerate(ext_names)}})
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def _external_names(groups, spec, node):
    """Model tensor names of the tail's join operands, in the spec's order."""
    from halp_graph.latency.subgraph import assign_tails
    layers = {l.name: l for l in groups.layers}
    tail = assign_tails(groups.graph, layers).get(node.name, [])
    inside = {node.outputs[0]} | {t.outputs[0] for t in tail}
    names = []
    for t in tail:
        for inp in t.inputs:
            if inp and inp not in inside and not groups.graph.is_constant(inp) and inp not in names:
                names.append(inp)
    return names


def _output_names(groups, spec, node):
    from halp_graph.latency.subgraph import assign_tails
    layers = {l.name: l for l in groups.layers}
    tail = assign_tails(groups.graph, layers).get(node.name, [])
    names = [node.outputs[0]] + [t.outputs[0] for t in tail]
    return [names[i] for i in spec.outputs]


def test_rebuilds_at_any_width_and_signature_ignores_width():
    model = bottleneck()
    for spec in layer_specs(analyze(model)).values():
        for ci, co in [(1, 1), (spec.full_in, spec.full_out)]:
            if spec.depthwise:
                co = ci * spec.multiplier
            if spec.groups > 1 and not spec.depthwise:
                continue
            rebuilt = spec.to_onnx(ci, co)
            onnx.checker.check_model(rebuilt, full_check=True)
            outs = session(rebuilt).run(None, spec.feeds(ci, co))
            assert all(np.isfinite(o).all() for o in outs)
        assert spec.signature_key() == spec.signature_key()


def test_identical_layers_share_a_signature_and_batch_is_part_of_it():
    b = GraphBuilder("twins", 17, "N")
    x = b.relu(b.conv(b.input("x", 8, (8, 8)), 8, hint="one"))
    x = b.relu(b.conv(x, 8, hint="two"))
    b.output(x)
    groups = analyze(b.build())
    one, two = layer_specs(groups).values()
    assert one.signature_key() == two.signature_key() and one.entry_key() == two.entry_key()
    big = next(iter(layer_specs(groups, batch=8).values()))
    assert big.batch == 8 and big.signature_key() != one.signature_key()


def test_pair_out_of_range_is_refused():
    spec = next(iter(layer_specs(analyze(bottleneck())).values()))
    with pytest.raises(ValueError):
        spec.to_onnx(spec.full_in + 1, spec.full_out)
