"""Layout conversions profiled on some pairs and scaled to the rest (backends/ort_layout.py),
and the ONNX Runtime backend profiling only where no estimate is close enough."""

from __future__ import annotations

import pytest

from halp_graph.graph import analyze, from_proto
from halp_graph.latency import get_target
from halp_graph.latency.backends import open_backend
from halp_graph.latency.backends.ort_layout import LayoutEstimates, alignment_class
from halp_graph.latency.backends.ort_profile import kernel_times, layout_ms
from halp_graph.latency.subgraph import layer_specs
from halp_graph.latency.timing import QUICK
from halp_graph.models.builder import GraphBuilder


def times(in_ms: float, out_ms: float) -> dict[str, float]:
    return {"ReorderInput": in_ms, "Conv": 1.0, "ReorderOutput": out_ms}


def test_alignment_classes_follow_the_channel_block():
    assert [alignment_class(c) for c in (64, 48, 40, 36, 33, 7)] == [16, 16, 8, 4, 1, 7]


def test_a_pair_is_scaled_only_from_a_quorum_of_its_class_within_reach():
    est = LayoutEstimates(reach=1.25, quorum=3)
    assert est.record("s", 64, 112, times(0.1, 0.175)) == pytest.approx(0.275)
    est.record("s", 64, 144, times(0.1, 0.225))
    assert est.estimate("s", 64, 128) is None  # two profiled pairs: below the quorum
    est.record("s", 64, 160, times(0.1, 0.25))
    # each profile scaled to (64, 128): input conversion as is, output by 128 / co
    scaled = [0.1 + 0.175 * 128 / 112, 0.1 + 0.225 * 128 / 144, 0.1 + 0.25 * 128 / 160]
    assert est.estimate("s", 64, 128) == pytest.approx(sorted(scaled)[1]) and est.scaled == 1
    est.record("s", 64, 136, times(0.1, 2.0))  # one profile far off: the median ignores it
    assert est.estimate("s", 64, 128) < 0.4
    assert est.estimate("s", 64, 127) is None  # another alignment class: another kernel
    assert est.estimate("s", 48, 128) is None  # 64/48 is beyond reach
    assert est.estimate("other", 64, 120) is None  # another layer


def conv_net():
    b = GraphBuilder("conv", 17, 1)
    b.output(b.relu(b.conv(b.relu(b.conv(b.input("x", 32, (28, 28)), 64, hint="a")), 256, hint="b")))
    return from_proto(b.build())


def test_onnxruntime_profiles_up_to_a_quorum_per_class_and_scales_the_rest():
    """Output counts 256, 255, ..., 200 of a real conv: each alignment class is profiled
    until a quorum is within reach, the rest is scaled, and a scaled conversion lands near
    a fresh profile of the same pair (conversions run on the aligned counts here)."""
    backend = open_backend(get_target("cpu"))
    spec = next(s for s in layer_specs(analyze(conv_net())).values() if s.full_out == 256)
    sweep = [(spec.full_in, co) for co in range(256, 199, -1)]
    timings = {pair: backend.time_layer(spec, *pair, QUICK) for pair in sweep}
    est, sig = backend.layouts, spec.signature_key()
    profiled = {(ci, co) for refs in est.profiled.values() for ci, co, _, _ in refs}
    assert len(profiled) + est.scaled == len(sweep) and est.scaled >= 20
    assert all(t.median_ms > 0 for t in timings.values())
    compared = 0
    for pair in sorted(set(sweep) - profiled):
        total = layout_ms(kernel_times(backend._ort, backend.session, spec.to_onnx(*pair).SerializeToString(),
                                       spec.feeds(*pair), inflation_ms=backend.profiler_inflation_ms()))
        kernel = timings[pair].median_ms + timings[pair].layout_ms
        assert abs(est.estimate(sig, *pair) - total) <= 0.05 * kernel + 2e-3, pair
        compared += total > 0
    assert compared >= 2  # some scaled pairs do convert: the check above is not of zeros
