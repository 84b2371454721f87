"""The analytic (roofline) estimate and its device profiles."""

from __future__ import annotations

import pytest

from halp_graph.errors import TargetError
from halp_graph.graph import analyze
from halp_graph.latency import build_lut, get_target
from halp_graph.latency.backends.analytic import AnalyticBackend
from halp_graph.latency.device_profiles import PROFILES, get_profile
from halp_graph.latency.subgraph import layer_specs
from halp_graph.models.builder import GraphBuilder

DEVICES = ["xavier", "orin", "tx2", "titanv", "t4", "a100", "h100"]


def conv_spec(channels=256, hw=14, batch=1):
    b = GraphBuilder("c", 17, batch)
    b.output(b.relu(b.conv(b.input("x", channels, (hw, hw)), channels)))
    return next(iter(layer_specs(analyze(b.build()), batch=batch).values()))


def backend(name, **overrides):
    return AnalyticBackend(get_target(name, backend="analytic", **overrides))


def test_every_device_has_a_sane_profile():
    assert set(DEVICES) <= set(PROFILES)
    for name in DEVICES:
        p = get_profile(name)
        assert p.sms > 0 and p.bandwidth_gbs > 0 and p.launch_us > 0 and p.label
        assert p.rate("fp32", tensor=False) > 0
    assert get_profile("h100").rate("fp16", tensor=True) > get_profile("a100").rate("fp16", tensor=True)
    assert get_profile("tx2").rate("fp16", tensor=True) is None  # Pascal: no tensor cores


def test_unknown_profile_and_unsupported_precision():
    with pytest.raises(TargetError):
        get_profile("pentium")
    with pytest.raises(TargetError, match="int8"):
        backend("tx2", precision="int8")


def test_estimates_rank_devices_and_precisions_sensibly():
    spec = conv_spec(batch=64)
    fast, slow = backend("h100"), backend("tx2")
    assert fast.estimate_ms(spec, 256, 256) < slow.estimate_ms(spec, 256, 256)
    t4 = {p: backend("t4", precision=p).estimate_ms(spec, 256, 256) for p in ("fp32", "fp16", "int8")}
    assert t4["int8"] < t4["fp16"] < t4["fp32"]


def test_estimate_steps_at_tiles_and_alignment():
    spec = conv_spec(batch=64)
    a100 = backend("a100")  # fp16: channels padded to 8; output tiles 256 wide
    assert a100.estimate_ms(spec, 249, 256) == a100.estimate_ms(spec, 256, 256)
    costs = [a100.estimate_ms(spec, 256, co) for co in range(1, 257)]
    assert costs == sorted(costs)
    assert a100.estimate_ms(spec, 256, 1) > 0


def test_analytic_lut_is_flagged_as_estimate():
    b = GraphBuilder("net", 17, 1)
    x = b.relu(b.conv(b.input("x", 3, (16, 16)), 32))
    b.output(b.gemm(b.flatten(b.gap(b.relu(b.conv(x, 64)))), 10))
    model = b.build()
    lut = build_lut(model, get_target("orin", backend="analytic"))
    assert lut.is_estimate and lut.fingerprint["estimate"] is True
    assert "estimate" in lut.fingerprint["device"]
    cost = lut.cost_model(analyze(model))
    assert cost.dense_cost() > 0
