"""Timing many pairs of one layer in one profiled ONNX Runtime session (backends/ort_packed.py):
the packed model computes what each pair's model computes, every kernel is attributed to
its pair, conversions are left out, and unsettled pairs are profiled again."""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from halp_graph.equivalence import compare_output
from halp_graph.graph import analyze, from_proto
from halp_graph.latency import get_target
from halp_graph.latency.backends import open_backend
from halp_graph.latency.backends.ort_packed import (PackConfig, _is_aux, pack_batches, packed_model,
                                                   time_packed)
from halp_graph.latency.backends.ort_profile import kernel_events
from halp_graph.latency.subgraph import layer_specs
from halp_graph.models import edge_cases as ec
from halp_graph.models.builder import GraphBuilder


def conv_spec():
    b = GraphBuilder("conv", 17, 1)
    b.output(b.relu(b.conv(b.relu(b.conv(b.input("x", 32, (28, 28)), 64, hint="a")), 256, hint="b")))
    groups = analyze(from_proto(b.build()))
    return next(s for s in layer_specs(groups).values() if s.full_out == 256)


def join_spec():
    """A conv whose tail adds another branch: the copy has an external input too."""
    groups = analyze(from_proto(ec.residual_add(batch=1)))
    return next(s for s in layer_specs(groups).values() if s.externals)


def residual_spec(channels: int = 32):
    """conv -> Add(residual) -> Relu at an aligned width, as in a ResNet block."""
    b = GraphBuilder("residual", 17, 1)
    stem = b.relu(b.conv(b.input("x", 3, (16, 16)), channels, hint="stem"))
    inner = b.relu(b.conv(stem, channels, hint="a"))
    b.output(b.relu(b.add(b.conv(inner, channels, hint="b"), stem)))
    groups = analyze(from_proto(b.build()))
    return next(s for s in layer_specs(groups).values() if s.externals)


def session(model_bytes, initializers=None, **options):
    """A plain ONNX Runtime CPU session (not the backend's), `options` set on its
    SessionOptions, `initializers` given by name."""
    opts = ort.SessionOptions()
    for key, value in options.items():
        setattr(opts, key, value)
    if initializers:
        opts.add_external_initializers(list(initializers),
                                       [ort.OrtValue.ortvalue_from_numpy(v) for v in initializers.values()])
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def run(model_bytes, feeds, initializers=None):
    sess = session(model_bytes, initializers)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))


@pytest.mark.parametrize("make_spec", [conv_spec, join_spec])
def test_each_copy_computes_what_its_pair_computes(make_spec):
    spec = make_spec()
    pairs = [(spec.full_in, spec.full_out), (spec.full_in - 3, spec.full_out - 5), (2, 3)]
    model, feeds, weights = packed_model(spec, pairs)
    assert weights and len(model) < sum(w.nbytes for w in weights.values())  # the data is not in the model
    packed = run(model, feeds, weights)
    assert len(packed) == len(pairs) * len(spec.outputs)
    for i, pair in enumerate(pairs):
        alone = run(spec.to_onnx(*pair).SerializeToString(), spec.feeds(*pair))
        for name, value in alone.items():
            report = compare_output(name, packed[f"p{i}_{name}"], value)
            assert report.ok and report.scale > 1e-3, (pair, report)


def test_a_join_operand_gets_a_producer_so_the_join_is_fused_as_in_a_model(tmp_path):
    """A residual Add fed by a graph input runs on its own after a layout conversion; fed
    by a producer (the copy's aux pool) it is fused into the blocked conv, as in a ResNet,
    and the pool's kernels are not the pair's."""
    spec = residual_spec()
    pair = (spec.full_in, spec.full_out)

    def optimized_ops(model_bytes, weights=None):
        path = str(tmp_path / "optimized.onnx")
        session(model_bytes, weights, optimized_model_filepath=path)
        return [(n.op_type, n.domain, n.name) for n in onnx.load(path).graph.node]

    plain = optimized_ops(spec.to_onnx(*pair).SerializeToString())
    if not any(domain == "com.microsoft.nchwc" for _, domain, _ in plain):
        pytest.skip("ONNX Runtime runs no blocked (NCHWc) kernels on this CPU")
    assert "Add" in [op for op, _, _ in plain]  # the join as its own kernel
    model, feeds, weights = packed_model(spec, [pair, pair])
    packed = optimized_ops(model, weights)
    assert "Add" not in [op for op, _, _ in packed]  # fused into each copy's conv
    pools = [name for op, _, name in packed if op == "MaxPool"]
    assert len(pools) == 2 and all(_is_aux(name) for name in pools)  # as ORT names them: left out
    backend = open_backend(get_target("cpu"))
    with_pool = time_packed(backend.session, backend._bound_run, spec, [pair], backend.profiler_share(),
                            PackConfig(min_runs=6, max_runs=6, retries=0))
    assert with_pool[pair].median_ms > 0
    assert _is_aux("p0_aux0_nchwc") and _is_aux("p12_aux0") and not _is_aux("p0_layer")
    assert not _is_aux("ReorderInput_token_3") and not _is_aux("p0_t0_nchwc")


def test_pairs_are_batched_within_the_pair_and_byte_limits():
    spec = conv_spec()
    pairs = [(spec.full_in, co) for co in range(256, 150, -1)]
    assert [len(b) for b in pack_batches(spec, pairs, PackConfig(max_pairs=48))] == [48, 48, 10]
    # float32 weights, input and output of the widest pair
    one = 4 * (np.prod(spec.weight_shape_at(spec.full_in, 256)) + spec.full_in * 28 * 28 + 256 * 28 * 28)
    small = pack_batches(spec, pairs[:6], PackConfig(max_bytes=2 * one))
    assert [len(b) for b in small] == [2, 2, 2]
    assert pack_batches(spec, pairs[:2], PackConfig(max_bytes=1)) == [[pairs[0]], [pairs[1]]]


def test_packed_timings_leave_out_conversions_and_retry_unsettled_pairs():
    backend = open_backend(get_target("cpu"))
    spec = conv_spec()
    pairs = [(spec.full_in, 256), (spec.full_in, 192), (spec.full_in, 255)]
    config = PackConfig(min_runs=6, max_runs=6, retries=0)
    share = backend.profiler_share()
    timings = time_packed(backend.session, backend._bound_run, spec, pairs, share, config)
    assert set(timings) == set(pairs)
    assert all(t.runs == 6 and 0 < t.min_ms <= t.median_ms for t in timings.values())
    # side by side, the conversions ORT names after no copy are nobody's: not told
    assert all(math.isnan(t.layout_ms) for t in timings.values())
    # an aligned pair runs blocked kernels and converts at the edges of the cut: timed
    # alone, the conversions it left out are known
    alone = time_packed(backend.session, backend._bound_run, spec, pairs[:1], share, config)[pairs[0]]
    assert alone.layout_ms > 0 and alone.median_ms > 0
    never = PackConfig(min_runs=6, max_runs=6, retries=2, rel_tol=0.0, abs_tol_ms=0.0)
    retried = time_packed(backend.session, backend._bound_run, spec, pairs, share, never)
    assert all(t.runs == 18 for t in retried.values())  # profiled three times, runs pooled


def test_the_backend_times_layers_in_packed_sessions_on_the_cpu():
    backend = open_backend(get_target("cpu"))
    spec = conv_spec()
    pairs = [(spec.full_in, co) for co in (256, 128, 64)]
    timings = backend.time_layers(spec, pairs + pairs[:1])
    assert list(timings) == pairs and all(t.median_ms > 0 for t in timings.values())
    # fewer output channels cost less: the copies are told apart, not summed
    assert timings[pairs[2]].median_ms < timings[pairs[0]].median_ms
    assert backend.time_layer(spec, *pairs[0]).runs >= PackConfig().min_runs


def test_profile_lines_are_read_as_json_would_read_them(tmp_path):
    spec = conv_spec()
    model, feeds, weights = packed_model(spec, [(spec.full_in, 256), (spec.full_in, 100)])
    sess = session(model, weights, enable_profiling=True, profile_file_prefix=str(tmp_path / "profile"))
    for _ in range(3):
        sess.run(None, feeds)
    path = sess.end_profiling()
    with open(path, encoding="utf-8") as f:
        fast = list(kernel_events(f))
    with open(path, encoding="utf-8") as f:
        slow = [(e["name"][:-len("_kernel_time")], e["args"]["op_name"], e["dur"]) for e in json.load(f)
                if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    assert fast == slow and len(fast) >= 6
    # a line whose fields come in another order is parsed as JSON
    line = json.dumps({"args": {"op_name": "Conv"}, "name": "p1_x_kernel_time", "dur": 17, "cat": "Node"})
    assert list(kernel_events([line + ",\n"])) == [("p1_x", "Conv", 17)]
    assert np.isfinite([us for _, _, us in fast]).all()
