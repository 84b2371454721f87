"""The LUT as a whole on a deterministic backend: building, caching, the file, the
target check, and the CostModel the solver sees."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import pytest

from halp_graph.cost_model import CostModel, all_counts, predict
from halp_graph.errors import TargetError
from halp_graph.graph import analyze, from_proto
from halp_graph.latency import LatencyLUT, LutTargetWarning, build_lut, get_target
from halp_graph.latency.sampler import QUICK_SAMPLING, SAMPLER_VERSION, SamplingConfig
from halp_graph.latency.subgraph import layer_specs
from halp_graph.latency.timing import Timing
from halp_graph.models import edge_cases as ec
from halp_graph.models.builder import GraphBuilder

from .fake_backend import FakeBackend


def wide_net(size: int = 8):
    """Two repeated 3x3 blocks (identical layers) and a residual join, wide enough to
    show 16-channel steps, at size x size."""
    b = GraphBuilder("wide", 17, 1)
    x = b.relu(b.conv(b.input("x", 3, (size, size)), 64, hint="stem"))
    for i in range(2):
        y = b.relu(b.conv(x, 64, hint=f"a{i}"))
        x = b.relu(b.add(b.conv(y, 64, hint=f"b{i}"), x))
    b.output(b.gemm(b.flatten(b.gap(x)), 10))
    return b.build()


@pytest.fixture(scope="module")
def built():
    model = from_proto(wide_net())
    target = get_target("cpu")
    backend = FakeBackend(target, dense_ms=2.0)
    lut = build_lut(model, target, sampling=SamplingConfig(validation_points=1), backend=backend)
    return model, analyze(model), lut, backend


def test_identical_layers_share_an_entry_and_pairs_are_timed_once(built):
    model, groups, lut, backend = built
    specs = layer_specs(groups, batch=1)
    assert len(lut.entries) < len(specs)  # the two blocks' layers are the same entries
    assert len(backend.calls) == len(set(backend.calls))
    record = lut.record_for(groups)
    assert set(record.layers) == set(specs) and record.dense.median_ms == 2.0


def test_lut_is_a_cost_model(built):
    model, groups, lut, _ = built
    cost = lut.cost_model(groups)
    assert isinstance(cost, CostModel) and cost.unit == "ms"
    assert cost.dense_cost() == 2.0
    full = {g.id: g.size for g in groups}
    assert predict(cost, groups, full) == pytest.approx(2.0)
    half = {g.id: max(g.size // 2, g.min_keep) for g in groups.prunable()}
    assert predict(cost, groups, half) < 2.0


def test_candidate_counts_are_the_staircase_edges(built):
    model, groups, lut, _ = built
    cost = lut.cost_model(groups)
    for group in groups.prunable():
        counts = cost.candidate_counts(group)
        assert counts == sorted(counts) and counts[-1] == group.size
        assert set(counts) <= set(all_counts(group))
        # The fake device steps every 16 channels (on multiples of 4): above the first
        # step the worthwhile counts are the top of each step. (Below it, 1 to 3 inputs on
        # the slow kernel are cheaper still, so they are worth considering too.)
        if group.size == 64:
            assert [c for c in counts if c >= 16] == [16, 32, 48, 64]


def test_file_round_trip(built, tmp_path):
    model, groups, lut, _ = built
    path = tmp_path / "lut.json"
    lut.save(path)
    data = json.loads(path.read_text())
    assert data["schema"] == "halp_graph.lut/1"
    assert data["fingerprint"]["backend"] == "fake" and data["fingerprint"]["batch"] == 1
    again = LatencyLUT.load(path)
    a, b = lut.cost_model(groups), again.cost_model(groups)
    for layer in groups.layers:
        for ci, co in [(layer.in_channels, layer.out_channels), (1, 1),
                       (max(1, layer.in_channels // 3), max(1, layer.out_channels // 2))]:
            assert a.layer_cost(layer, ci, co) == pytest.approx(b.layer_cost(layer, ci, co), rel=1e-5)
    for group in groups.prunable():
        assert a.candidate_counts(group) == b.candidate_counts(group)


def test_refuses_to_overwrite(built, tmp_path):
    _, _, lut, _ = built
    path = tmp_path / "lut.json"
    path.write_text("{}")
    with pytest.raises(Exception, match="already exists"):
        lut.save(path)
    assert path.read_text() == "{}"


def test_warns_when_used_for_another_target(built, tmp_path):
    _, _, lut, _ = built
    path = tmp_path / "lut.json"
    lut.save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LatencyLUT.load(path, target=get_target("cpu"))  # the same target: silent
    with pytest.warns(LutTargetWarning, match="threads"):
        LatencyLUT.load(path, target=get_target("cpu", threads=2, clock="wall"))
    with pytest.warns(LutTargetWarning, match="xavier"):
        LatencyLUT.load(path, target=get_target("xavier"))


def test_a_lut_for_another_model_is_refused(built):
    _, _, lut, _ = built
    other = analyze(ec.depthwise(batch=1))
    assert lut.missing_layers(other)
    with pytest.raises(TargetError, match="does not cover"):
        lut.cost_model(other)


@pytest.mark.parametrize("text", ["not json", json.dumps({"schema": "something/1"}),
                                  json.dumps({"schema": "halp_graph.lut/1", "entries": 3})])
def test_unreadable_lut(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TargetError):
        LatencyLUT.load(path)


def test_missing_lut_file(tmp_path):
    with pytest.raises(TargetError, match="no such LUT"):
        LatencyLUT.load(tmp_path / "nope.json")


def test_incremental_build_reuses_entries(built):
    model, groups, lut, _ = built
    target = get_target("cpu")
    backend = FakeBackend(target)
    again = build_lut(model, target, sampling=QUICK_SAMPLING, backend=backend,
                      existing=LatencyLUT.from_json(lut.to_json()))
    assert backend.calls == [] and set(again.entries) == set(lut.entries)


def test_a_table_of_another_sampler_version_is_rebuilt_not_extended(built):
    model, groups, lut, _ = built
    target = get_target("cpu")
    old = LatencyLUT.from_json(json.loads(json.dumps(lut.to_json())))
    old.fingerprint["versions"]["sampler"] = SAMPLER_VERSION - 1  # fitted by an older detector
    backend = FakeBackend(target)
    again = build_lut(model, target, sampling=QUICK_SAMPLING, backend=backend, existing=old)
    assert backend.calls and again.fingerprint["versions"]["sampler"] == SAMPLER_VERSION
    assert lut.fingerprint["versions"]["sampler"] == SAMPLER_VERSION


def test_depthwise_and_grouped_layers(tmp_path):
    for proto in (ec.depthwise(batch=1), ec.grouped_conv(batch=1)):
        model = from_proto(proto)
        groups = analyze(model)
        target = get_target("cpu")
        lut = build_lut(model, target, sampling=QUICK_SAMPLING, backend=FakeBackend(target))
        cost = lut.cost_model(groups)
        for group in groups.prunable():
            for count in cost.candidate_counts(group):
                assert count % group.step == 0 or count == group.size
        kept = {g.id: g.size for g in groups}
        assert predict(cost, groups, kept) == pytest.approx(cost.dense_cost())
        assert all(math.isfinite(cost.layer_cost(l, l.in_channels, l.out_channels)) for l in groups.layers)
        for layer in groups.layers:  # the solver's tables: the same numbers, tied counts included
            ins, outs = list(range(layer.in_channels + 1)), list(range(layer.out_channels + 1))
            pointwise = [[cost.layer_cost(layer, i, o) for o in outs] for i in ins]
            assert cost.layer_cost_table(layer, ins, outs).tolist() == pointwise


def test_cost_model_for_prefers_a_covering_lut_then_estimates(built, tmp_path):
    from halp_graph.latency import cost_model_for
    from halp_graph.latency.backends import EstimateWarning
    model, groups, lut, _ = built
    path = tmp_path / "lut.json"
    lut.save(path)
    chosen = cost_model_for(groups, get_target("cpu"), [path])
    assert chosen.lut.fingerprint["backend"] == "fake"
    other = analyze(ec.depthwise(batch=1))
    with pytest.raises(TargetError, match="needs a measured LUT"):
        cost_model_for(other, get_target("cpu"), [path])
    with pytest.warns(EstimateWarning, match="analytic"):
        estimate = cost_model_for(groups, get_target("orin"), [], model=model)
    assert estimate.lut.is_estimate and estimate.dense_cost() > 0


def test_another_input_shape_reuses_the_detected_step_structures(built, tmp_path):
    """The same net at another spatial size has new entries (other signatures), but its
    kernel families' step structures come from the first build, saved in the LUT file:
    it is checked, not probed again, so far fewer pairs are timed."""
    model, groups, lut, backend = built
    structures = lut.meta["structures"]
    assert structures and {s["axis"] for s in structures} >= {"in", "out"}
    saved = LatencyLUT.load(lut.save(tmp_path / "lut.json"))
    assert saved.meta["structures"] == structures

    other = from_proto(wide_net(12))
    target = get_target("cpu")
    timed = {}
    first_entries = set(saved.entries)
    luts = {}
    for label, existing in (("alone", None), ("shared", LatencyLUT.from_json(saved.to_json()))):
        fresh = FakeBackend(target, dense_ms=2.0)
        luts[label] = build_lut(other, target, sampling=SamplingConfig(validation_points=1),
                                backend=fresh, existing=existing)
        timed[label] = len(fresh.calls)
    assert len(set(luts["alone"].entries) - first_entries) == 3  # the convs (the Gemm after GAP is shared)
    assert timed["shared"] < 0.6 * timed["alone"], timed
    # and the shared build prices as the one built alone (the structures are the same law)
    alone, shared = luts["alone"], luts["shared"]
    other_groups = analyze(other)
    for group in other_groups.prunable():
        assert alone.cost_model(other_groups).candidate_counts(group) == \
            shared.cost_model(other_groups).candidate_counts(group)


class ConversionsToldOnce(FakeBackend):
    """A backend that, as ORT's packed sessions, tells a pair's layout conversions only
    for the stem's full pair (timed alone) and leaves every other pair's unknown (NaN).
    (The stem and the 3x3 blocks share a signature: whichever times (3, 64) tells it.)"""

    rate = 2e-7  # ms per element

    def time_layer(self, spec, ci, co, config=None) -> Timing:
        t = super().time_layer(spec, ci, co, config)
        told = (ci, co) == (3, 64)
        elements = math.prod(spec.input.at(ci)) + math.prod(spec.output.at(co))
        return dataclasses.replace(t, layout_ms=self.rate * elements if told else math.nan)


def test_convs_whose_conversions_were_not_told_get_the_tables_typical_rate():
    model = from_proto(wide_net())
    target = get_target("cpu")
    lut = build_lut(model, target, sampling=SamplingConfig(validation_points=0),
                    backend=ConversionsToldOnce(target, dense_ms=2.0))
    rates = {e.signature["op"]: e.layout_rate for e in lut.entries.values()}
    convs = [e.layout_rate for e in lut.entries.values() if e.signature["op"] == "Conv"]
    assert len(convs) >= 3 and all(r == pytest.approx(ConversionsToldOnce.rate) for r in convs), convs
    assert rates["Gemm"] == 0.0  # ORT blocks no Gemm: no conversions to price
    assert all(math.isfinite(e.layout_rate) for e in lut.entries.values())
