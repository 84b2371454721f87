"""The real backends: ONNX Runtime and torch on this machine's CPU, TensorRT where it
imports, and how a missing package or device is reported."""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from halp_graph.errors import BackendUnavailable
from halp_graph.graph import analyze, from_proto
from halp_graph.latency import get_target, measure_interleaved, measure_model
from halp_graph.latency.backends import EstimateWarning, availability, open_backend, unavailable_reason
from halp_graph.latency.backends.ort_profile import ProfilerShare, profile_nodes
from halp_graph.latency.sampler import QUICK_SAMPLING
from halp_graph.latency.subgraph import layer_specs
from halp_graph.latency.timing import QUICK, QUICK_MODEL
from halp_graph.models import edge_cases as ec
from halp_graph.pruning.lut_calibration import CalibrationConfig, build_calibrated_lut
from halp_graph.testing import random_inputs, session


@pytest.fixture(scope="module")
def tiny():
    return from_proto(ec.residual_add(batch=1))


def test_onnxruntime_times_layers_and_models(tiny):
    target = get_target("cpu")
    backend = open_backend(target)
    spec = next(iter(layer_specs(analyze(tiny)).values()))
    t = backend.time_layer(spec, spec.full_in, spec.full_out, QUICK)
    assert 0 < t.min_ms <= t.median_ms and t.runs >= 3
    whole = measure_model(tiny, target, QUICK_MODEL)
    assert whole.median_ms > 0 and whole.runs > 0
    a, b = measure_interleaved([tiny, tiny], target, rounds=2)
    assert a.runs == b.runs > 0
    fp = backend.fingerprint()
    assert fp["backend"] == "onnxruntime" and fp["threads"] == 1 and "onnxruntime" in fp["versions"]


def test_onnxruntime_builds_a_lut_that_covers_the_model(tiny):
    target = get_target("cpu")
    lut = build_calibrated_lut(tiny, target, sampling=QUICK_SAMPLING, timing=QUICK,
                               model_timing=QUICK_MODEL,
                               calibration=CalibrationConfig(plans=4, rounds=2, runs_per_round=1))
    groups = analyze(tiny)
    assert lut.covers(groups) and not lut.is_estimate
    cost = lut.cost_model(groups)
    assert cost.dense_cost() > 0
    for group in groups.prunable():
        assert cost.candidate_counts(group)[-1] == group.size
    record = lut.record_for(groups)
    assert record.calibration["plans"] == 4 and len(record.calibration["weights"]) == 4
    # the dense model's kernels, profiled in context, map back to the model's own nodes
    names = {node.name for node in tiny.proto.graph.node}
    assert record.context["nodes"] and set(record.context["nodes"]) <= names
    assert all(ms >= 0 for ms in record.context["nodes"].values())


def chain(n: int, width: int) -> bytes:
    nodes = [helper.make_node("Neg", [f"t{i}" if i else "x"], [f"t{i + 1}" if i < n - 1 else "y"])
             for i in range(n)]
    graph = helper.make_graph(nodes, "chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, width])])
    opsets = [helper.make_opsetid("", 13)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8).SerializeToString()


def test_the_profilers_share_is_read_in_each_session_and_typical_on_long_kernels():
    """What the profiler adds to a kernel is machine- and session-dependent (about 1 us on
    the Xeons seen here, 3 to 10 us on an AVX2 EPYC), so it is read in each session: the
    kernels' profiled sum less it is the session's unprofiled run. Where the kernels are
    long the clock's scatter would swamp it, and the typical share is used."""
    backend = open_backend(get_target("cpu"))
    share = backend.profiler_share()
    assert share.typical_ms is not None and share.typical_ms >= 0
    small = chain(32, 1024)
    nodes, own = profile_nodes(backend.session, backend._bound_run, small,
                               {"x": np.ones((1, 1024), np.float32)}, share, runs=30, skip=10)
    assert len(nodes) == 32 and own != share.typical_ms
    assert 0 <= own <= sum(n.ms for n in nodes) / 32  # a share never exceeds what a kernel reads
    long = chain(4, 1 << 22)  # each Neg streams 32 MB: milliseconds per kernel
    _, typical = profile_nodes(backend.session, backend._bound_run, long,
                               {"x": np.ones((1, 1 << 22), np.float32)}, share, runs=4, skip=1)
    assert typical == share.typical_ms


def test_kernels_profiled_long_take_the_typical_share_without_unprofiled_runs():
    runs = []
    share = ProfilerShare("wall", overhead_ms=0.0, typical_ms=0.01)
    assert share.of(lambda: runs.append(1), 6, profiled_ms=4 * 0.2, kernels=4) == 0.01
    assert runs == []  # 0.2 ms a kernel: over ten times the typical share on its readings alone
    share.of(lambda: runs.append(1), 6, profiled_ms=4 * 0.02, kernels=4)
    assert len(runs) == 6  # short kernels: the session's own share, from its unprofiled runs


def test_thread_clock_is_refused_for_multithreaded_runs():
    from halp_graph.errors import TargetError
    with pytest.raises(TargetError, match="thread clock"):
        get_target("cpu", threads=2, clock="thread")
    assert get_target("cpu", threads=2).timing_clock == "wall"
    assert get_target("cpu").timing_clock == "thread"


@pytest.mark.parametrize("make", [lambda: ec.residual_add(batch=1), lambda: ec.squeeze_excite(batch=1),
                                  lambda: ec.concat_branches(batch=1), lambda: ec.depthwise(batch=1)])
def test_torch_runner_computes_what_onnxruntime_computes(make):
    pytest.importorskip("torch")
    from halp_graph.latency.torch_runner import TorchGraph
    model = make()
    feeds = random_inputs(model, batch=1)
    want = session(model).run(None, feeds)
    graph = TorchGraph(model)
    got = [t.numpy() for t in graph(graph.feeds(feeds))]
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_torch_backend_on_the_cpu(tiny):
    pytest.importorskip("torch")
    target = get_target("torch-cpu")
    backend = open_backend(target)
    spec = next(iter(layer_specs(analyze(tiny)).values()))
    assert backend.time_layer(spec, 2, spec.full_out, QUICK).median_ms > 0
    assert backend.time_model(tiny, QUICK_MODEL).median_ms > 0


def test_torch_runner_refuses_unknown_ops():
    pytest.importorskip("torch")
    from halp_graph.latency.torch_runner import TorchGraph
    node = onnx.helper.make_node("NonMaxSuppression", ["b", "s"], ["y"])
    graph = onnx.helper.make_graph([node], "g", [], [])
    with pytest.raises(BackendUnavailable, match="NonMaxSuppression"):
        TorchGraph(onnx.helper.make_model(graph))


def test_cuda_target_without_a_gpu_is_unavailable_with_the_reason():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present here")
    reason = unavailable_reason(get_target("cuda"))
    assert reason and "CUDA" in reason
    with pytest.raises(BackendUnavailable, match="CUDA"):
        open_backend(get_target("cuda"))


def test_device_target_falls_back_to_its_estimate_with_a_warning():
    target = get_target("xavier")
    if unavailable_reason(target) is None:
        pytest.skip("TensorRT on a Xavier is here: it measures")
    with pytest.warns(EstimateWarning, match="xavier"):
        backend = open_backend(target)
    assert backend.estimate and "estimate" in backend.fingerprint()["device"]
    with pytest.raises(BackendUnavailable):
        open_backend(target, allow_estimate=False)


def test_availability_lists_every_backend_with_a_reason():
    report = availability(get_target("cpu"))
    assert set(report) == {"onnxruntime", "torch", "tensorrt", "analytic"}
    assert report["onnxruntime"] is None
    for name, reason in report.items():
        assert reason is None or isinstance(reason, str) and reason


def test_tensorrt_reports_why_it_cannot_run():
    reason = unavailable_reason(get_target("tensorrt"))
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert reason and "tensorrt" in reason
        with pytest.raises(BackendUnavailable, match="tensorrt"):
            open_backend(get_target("tensorrt"))


def test_tensorrt_times_a_layer(tiny):
    pytest.importorskip("tensorrt", reason="TensorRT is not installed here (it installs only "
                                           "where NVIDIA's wheels and a GPU are available)")
    target = get_target("tensorrt")
    if unavailable_reason(target):
        pytest.skip(unavailable_reason(target))
    backend = open_backend(target)
    spec = next(iter(layer_specs(analyze(tiny)).values()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert backend.time_layer(spec, spec.full_in, spec.full_out, QUICK).median_ms > 0
