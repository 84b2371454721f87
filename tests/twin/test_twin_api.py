"""The Twin's contract: gradients, hooks, stepping node by node, constants, to_onnx,
and its two errors."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
import torch
from onnx import helper

from halp_graph.errors import HalpError
from halp_graph.graph import load_model
from halp_graph.models.builder import GraphBuilder
from halp_graph.onnx_io import save_model
from halp_graph.testing import random_inputs, session
from halp_graph.twin import Twin, TwinMismatch, TwinUnsupported, build_twin, check_twin

from .single_op import Init, one_node_model, randn


def small_net(opset: int = 17) -> onnx.ModelProto:
    b = GraphBuilder("twin_net", opset)
    x = b.input("x", 3, (8, 8))
    y = b.relu(b.bn(b.conv(x, 8)))
    y = b.relu(b.add(b.bn(b.conv(y, 8, hint="mid")), y))
    y = b.act("HardSwish", b.conv(y, 6, stride=2, hint="down"))
    b.output(b.gemm(b.flatten(b.gap(y)), 5))
    return b.build()


@pytest.fixture(scope="module")
def net():
    return small_net()


def test_builds_a_module_with_names(net):
    twin = build_twin(net)
    assert isinstance(twin, Twin) and isinstance(twin, torch.nn.Module)
    assert twin.input_names == ["x"]
    assert twin.output_names == [o.name for o in net.graph.output]
    assert [n.op_type for n in twin.nodes] == [n.op_type for n in net.graph.node]
    assert set(twin.parameter_names()) == {t.name for t in net.graph.initializer}
    report = check_twin(twin, net)
    assert report.ok and not report.vacuous, report


def test_accepts_path_proto_and_loaded_model(tmp_path, net):
    path = str(tmp_path / "net.onnx")
    onnx.save(net, path)
    for source in (path, net, load_model(path)):
        assert check_twin(build_twin(source), source).ok


def test_numpy_and_torch_feeds_give_dict_in_output_order(net):
    twin = build_twin(net)
    x = randn(2, 3, 8, 8)
    a = twin({"x": x})
    b = twin({"x": torch.from_numpy(x)})
    assert list(a) == twin.output_names
    torch.testing.assert_close(a[twin.output_names[0]], b[twin.output_names[0]])


def test_every_parameter_gets_a_gradient(net):
    twin = build_twin(net)
    out = twin({"x": randn(4, 3, 8, 8)})[twin.output_names[0]]
    (out ** 2).mean().backward()
    for name in twin.parameter_names():
        grad = twin.constant(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_batchnorm_uses_running_statistics_in_train_mode(net):
    twin = build_twin(net)
    feeds = {"x": randn(3, 3, 8, 8)}
    with torch.no_grad():
        a = twin.eval()(feeds)[twin.output_names[0]]
        b = twin.train()(feeds)[twin.output_names[0]]
    torch.testing.assert_close(a, b)


def test_hook_mask_gradient_matches_finite_difference(net):
    twin = build_twin(net).double()
    target = next(n for n in twin.nodes if n.op_type == "Relu").outputs[0]
    x = torch.from_numpy(randn(2, 3, 8, 8)).double()
    mask = torch.ones(1, 8, 1, 1, dtype=torch.float64, requires_grad=True)
    seen = []

    def loss_for(m):
        def hook(name, value):
            seen.append(name)
            return value * m if name == target else value
        out = twin({"x": x}, hook=hook)[twin.output_names[0]]
        return (out ** 2).sum()

    loss_for(mask).backward()
    assert "x" in seen and target in seen and len(set(seen)) == 1 + sum(len(n.outputs) for n in twin.nodes)
    eps = 1e-6
    for c in (0, 3, 7):
        bump = torch.zeros_like(mask)
        bump[0, c] = eps
        with torch.no_grad():
            fd = (loss_for(mask + bump) - loss_for(mask - bump)) / (2 * eps)
        assert abs(mask.grad[0, c, 0, 0].item() - fd.item()) <= 1e-6 * max(1.0, abs(fd.item()))
    assert mask.grad.abs().sum() > 0


def test_run_node_steps_through_the_graph(net):
    twin = build_twin(net)
    x = torch.from_numpy(randn(2, 3, 8, 8))
    env = {"x": x}
    for node in twin.nodes:
        values = [env[n] if n in env else twin.constant(n) for n in node.inputs]
        env.update(zip(node.outputs, twin.run_node(node, values)))
    out = twin.output_names[0]
    torch.testing.assert_close(env[out], twin({"x": x})[out])


def test_to_onnx_round_trip_after_changing_a_weight(net):
    twin = build_twin(net)
    name = next(n for n in twin.parameter_names() if "mid_w" in n)
    with torch.no_grad():
        twin.constant(name).mul_(-1.5)
    exported = twin.to_onnx()
    onnx.checker.check_model(exported)
    feeds = random_inputs(net, batch=3)
    ort_out = session(exported).run(None, feeds)[0]
    with torch.no_grad():
        twin_out = twin(feeds)[twin.output_names[0]].numpy()
    np.testing.assert_allclose(twin_out, ort_out, rtol=1e-4, atol=1e-5)
    before = session(net).run(None, feeds)[0]
    assert not np.allclose(before, ort_out, atol=1e-3), "the weight change did not reach the export"
    assert [n.name for n in exported.graph.initializer] == [n.name for n in net.graph.initializer]


def test_set_constant_keeps_parameters_and_allows_new_shapes(net):
    twin = build_twin(net)
    name = twin.parameter_names()[0]
    old = twin.constant(name)
    twin.set_constant(name, old.detach() * 2)
    assert isinstance(twin.constant(name), torch.nn.Parameter)
    torch.testing.assert_close(twin.constant(name), old.detach() * 2)
    twin.set_constant(name, np.zeros((2,) + tuple(old.shape[1:]), np.float32))
    assert twin.constant(name).shape[0] == 2
    with pytest.raises(HalpError):
        twin.set_constant("no_such_tensor", np.zeros(1))


def test_to_onnx_reads_external_data(tmp_path, net):
    path = save_model(net, str(tmp_path / "ext.onnx"), external=True)
    assert any(os.path.basename(f) != "ext.onnx" for f in os.listdir(tmp_path))
    loaded = load_model(path)
    assert loaded.has_external_data
    twin = build_twin(loaded)
    assert check_twin(twin, loaded).ok
    exported = twin.to_onnx()
    assert not any(onnx.external_data_helper.uses_external_data(t) for t in exported.graph.initializer)
    feeds = random_inputs(net)
    np.testing.assert_allclose(session(exported).run(None, feeds)[0], session(net).run(None, feeds)[0],
                               rtol=1e-6, atol=1e-7)


def test_non_data_constants_stay_buffers():
    model, feeds = one_node_model("Resize", [randn(1, 2, 3, 3), "", Init(np.array([1, 1, 2, 2], np.float32))],
                                  {"mode": "nearest"}, opset=13)
    assert build_twin(model).parameter_names() == []
    model, _ = one_node_model("Clip", [randn(3), Init(np.array(0.0, np.float32)), Init(np.array(1.0, np.float32))])
    assert build_twin(model).parameter_names() == []
    model, _ = one_node_model("Reshape", [randn(2, 3), Init(np.array([3, 2], np.int64))])
    twin = build_twin(model)
    assert twin.parameter_names() == [] and twin.constant("in1").dtype == torch.int64


def test_constant_node_weights_are_parameters():
    w = onnx.numpy_helper.from_array(randn(4, 3, 1, 1))
    nodes = [helper.make_node("Constant", [], ["w"], value=w), helper.make_node("Conv", ["x", "w"], ["y"])]
    graph = helper.make_graph(nodes, "c", [helper.make_tensor_value_info("x", 1, [1, 3, 4, 4])],
                              [onnx.ValueInfoProto(name="y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    twin = build_twin(model)
    assert twin.parameter_names() == ["w"] and [n.op_type for n in twin.nodes] == ["Conv"]
    with torch.no_grad():
        twin.constant("w").mul_(3)
    exported = twin.to_onnx()
    feeds = random_inputs(model)
    np.testing.assert_allclose(session(exported).run(None, feeds)[0], twin(feeds)["y"].detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_unsupported_ops_are_all_named_at_once():
    nodes = [helper.make_node("FooOp", ["x"], ["a"]), helper.make_node("BarOp", ["a"], ["b"]),
             helper.make_node("FusedConv", ["b"], ["c"], domain="com.microsoft"),
             helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "u", [helper.make_tensor_value_info("x", 1, [2])],
                              [onnx.ValueInfoProto(name="y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    with pytest.raises(TwinUnsupported) as info:
        build_twin(model)
    assert info.value.ops == ["BarOp", "FooOp", "com.microsoft.FusedConv"]
    assert "no torch twin: ops ['BarOp', 'FooOp', 'com.microsoft.FusedConv']" in str(info.value)
    assert isinstance(info.value, HalpError) and info.value.exit_code == 5


def test_unsupported_variant_is_named():
    model, _ = one_node_model("Resize", [randn(1, 1, 2, 2), "", Init(np.array([1, 1, 2, 2], np.float32))],
                              {"mode": "linear", "antialias": 1}, opset=18)
    with pytest.raises(TwinUnsupported) as info:
        build_twin(model)
    assert info.value.ops == ["Resize"] and "antialias" in str(info.value)


def test_check_twin_raises_on_a_corrupted_parameter(net):
    twin = build_twin(net)
    with torch.no_grad():
        twin.constant(twin.parameter_names()[0]).mul_(1.01)
    report = check_twin(twin, net)
    assert not report.ok and report.max_rel > 1e-4 and report.worst_output == twin.output_names[0]
    with pytest.raises(TwinMismatch):
        check_twin(twin, net, raise_on_fail=True)


def test_run_from_equals_a_whole_run_with_the_same_hook():
    import numpy as np
    import torch
    from halp_graph.models.random_nets import build_random_net
    from halp_graph.twin import build_twin

    twin = build_twin(build_random_net(["residual", "concat", "se"], [8, 8, 8], seed=2))
    feeds = {"x": torch.from_numpy(np.random.default_rng(0).standard_normal((4, 3, 6, 6)).astype(np.float32))}
    base = twin.record(feeds)
    start = len(twin.nodes) // 2
    late = twin.nodes[start].outputs[0]

    def hook(name, value):
        return value * 0.5 if name == late else value
    with torch.no_grad():
        whole = twin(feeds, hook=hook)
        part = twin.run_from(start, base, hook=hook)
        plain = twin(feeds)
    for name in whole:
        assert torch.allclose(whole[name], part[name], atol=1e-6)
        assert not torch.allclose(whole[name], plain[name])
