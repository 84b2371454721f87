"""Whole-model calibration and the cost components it weighs, on a deterministic backend."""

from __future__ import annotations

import numpy as np
import pytest

from halp_graph.cost_model import predict
from halp_graph.graph import analyze, from_proto
from halp_graph.latency import LatencyLUT, build_lut, get_target
from halp_graph.latency.cost import COMPONENTS, FACE_VALUE
from halp_graph.latency.sampler import SamplingConfig
from halp_graph.models.builder import GraphBuilder
from halp_graph.pruning.lut_calibration import (BOUNDS, CalibrationConfig, build_calibrated_lut,
                                                calibration_counts, fit_weights, savings_features)
from halp_graph.testing import random_plan
from latency.fake_backend import FakeBackend  # tests/latency: the deterministic backend

QUICK_CALIBRATION = CalibrationConfig(plans=8, rounds=1, runs_per_round=1)


def two_reader_net():
    """A block whose input feeds two convs (a residual projection and the main path), a
    pooled output: what the boundary sharing and context attribution need."""
    b = GraphBuilder("readers", 17, 1)
    x = b.relu(b.conv(b.input("x", 3, (8, 8)), 64, hint="stem"))
    y = b.relu(b.conv(x, 48, hint="main"))
    x = b.relu(b.add(b.conv(y, 32, hint="tail"), b.conv(x, 32, k=1, hint="proj")))
    b.output(b.gemm(b.flatten(b.gap(x)), 10))
    return b.build()


# ----------------------------------------------------------------- the fit
def test_fit_recovers_known_weights():
    rng = np.random.default_rng(0)
    features = np.abs(rng.normal(size=(16, 4))) * [1.0, 0.1, 2.0, 0.05]
    truth = np.array([1.1, 0.6, 0.02, 1.5])
    measured = 10.0 - features @ truth
    weights = fit_weights(features, 10.0, measured, prior=1e-9)
    assert weights == pytest.approx(truth, rel=1e-4)


def test_fit_leaves_a_component_that_never_moves_at_face_value():
    rng = np.random.default_rng(1)
    features = np.abs(rng.normal(size=(12, 4)))
    features[:, 1] = 0.0  # no boundaries in any plan
    features[:, 3] = 0.0  # no context costs recorded
    measured = 10.0 - features @ np.array([1.2, 5.0, 0.1, 5.0])
    weights = fit_weights(features, 10.0, measured)
    assert weights[1] == pytest.approx(FACE_VALUE[1]) and weights[3] == pytest.approx(FACE_VALUE[3])
    assert weights[0] == pytest.approx(1.2, rel=0.05)


def test_fit_stays_within_physical_bounds():
    rng = np.random.default_rng(2)
    features = np.abs(rng.normal(size=(12, 4)))
    measured = 10.0 - features @ np.array([1.0, -2.0, -0.5, 1.0])  # savings from costs: unphysical
    weights = fit_weights(features, 10.0, measured)
    for w, (lo, hi) in zip(weights, BOUNDS):
        assert lo - 1e-9 <= w <= hi + 1e-9
    assert weights[1] == pytest.approx(0.0, abs=1e-9) and weights[2] == pytest.approx(0.0, abs=1e-9)


def test_calibration_plans_are_their_own_and_valid():
    model = from_proto(two_reader_net())
    groups = analyze(model)
    lut = build_lut(model, get_target("cpu"), backend=FakeBackend(dense_ms=2.0))  # not calibrated
    cost = lut.cost_model(groups)
    plans = calibration_counts(groups, cost, QUICK_CALIBRATION)
    assert len(plans) == QUICK_CALIBRATION.plans
    assert plans == calibration_counts(groups, cost, QUICK_CALIBRATION)  # seeded
    sizes = {g.id: g.size for g in groups}
    for i, kept in enumerate(plans):
        for gid, count in kept.items():
            assert 0 < count < sizes[gid]
            if i % 2:  # odd plans keep counts the solver would consider
                assert count in cost.candidate_counts(groups[gid])


# -------------------------------------------------------- calibrated builds
@pytest.fixture(scope="module")
def calibrated():
    model = from_proto(two_reader_net())
    target = get_target("cpu")
    backend = FakeBackend(target, in_context=1.3, fixed_ms=0.5)
    lut = build_calibrated_lut(model, target, sampling=SamplingConfig(validation_points=0),
                               backend=backend, calibration=QUICK_CALIBRATION)
    return model, analyze(model), lut, backend


def test_calibration_is_recorded_and_survives_the_file(calibrated, tmp_path):
    model, groups, lut, backend = calibrated
    record = lut.record_for(groups)
    assert record.calibration["components"] == list(COMPONENTS)
    plans = record.calibration["plans"]
    assert QUICK_CALIBRATION.min_plans <= plans <= QUICK_CALIBRATION.plans
    assert backend.models_run == 2 * plans  # each plan against the dense model
    again = LatencyLUT.load(lut.save(tmp_path / "lut.json"))
    assert again.record_for(groups).calibration == record.calibration
    assert again.cost_model(groups).weights == lut.cost_model(groups).weights


def test_calibration_learns_what_layers_cost_in_context(calibrated):
    """Layers cost 1.3x in context what they cost alone: the fitted weight of the layer
    surfaces finds it, and predictions of plans it never saw match the device."""
    model, groups, lut, backend = calibrated
    weights = lut.cost_model(groups).weights
    assert weights[0] == pytest.approx(1.3, rel=0.05)
    face, fitted = lut.cost_model(groups, calibrated=False), lut.cost_model(groups)
    assert face.weights == FACE_VALUE
    from halp_graph.passes import prune_channels
    errors = {"face": [], "fitted": []}
    for seed in range(6):
        plan = random_plan(groups, seed=seed, p_empty=0, p_single=0)
        kept = plan.kept_counts(groups)
        truth = backend.model_ms(prune_channels(model, plan, groups))
        for label, cost in (("face", face), ("fitted", fitted)):
            errors[label].append(abs(predict(cost, groups, kept) / truth - 1))
    assert np.median(errors["fitted"]) < 0.02
    assert np.median(errors["fitted"]) < np.median(errors["face"]) / 3


def test_calibration_is_skipped_where_models_cannot_be_run_one_by_one():
    model = from_proto(two_reader_net())
    lut = build_calibrated_lut(model, get_target("cpu"), backend=FakeBackend(dense_ms=2.0),
                               calibration=QUICK_CALIBRATION)
    groups = analyze(model)
    assert lut.record_for(groups).calibration is None
    assert lut.cost_model(groups).weights == FACE_VALUE


# ------------------------------------------------------------- components
def _layer(groups, hint):
    return next(layer for layer in groups.layers if layer.weight.startswith(hint + "_w"))


def test_context_costs_go_to_the_layer_whose_output_they_touch(calibrated):
    model, groups, lut, _ = calibrated
    graph = groups.graph
    gap = next(n for n in graph.nodes if n.op_type == "GlobalAveragePool")
    proj = _layer(groups, "proj")
    main = _layer(groups, "main")
    record = lut.record_for(groups)
    saved = record.context
    try:
        record.context = {"nodes": {gap.name: 0.2},
                          "conversions": {graph.nodes_by_name[main.name].outputs[0]: 0.1}}
        cost = lut.cost_model(groups, calibrated=False)
        # the pooling reads the block's output, which the Add+Relu in the tail of `proj`
        # (the join's operand computed last) produces; the conversion is of `main`'s output
        assert cost.components(proj, proj.in_channels, proj.out_channels)[3] == pytest.approx(0.2)
        assert cost.components(proj, proj.in_channels, 8)[3] == pytest.approx(0.2 * 8 / 32)
        assert cost.components(main, main.in_channels, 24)[3] == pytest.approx(0.1 * 24 / 48)
        assert cost.components(main, 0, 24) == (0.0,) * 4  # a removed layer costs nothing
    finally:
        record.context = saved


def test_weight_megabytes_follow_the_kept_counts(calibrated):
    _, groups, lut, _ = calibrated
    cost = lut.cost_model(groups, calibrated=False)
    main = _layer(groups, "main")  # 3x3, 64 -> 48
    assert cost.components(main, 64, 48)[2] == pytest.approx(48 * 64 * 9 * 4e-6)
    assert cost.components(main, 16, 24)[2] == pytest.approx(24 * 16 * 9 * 4e-6)


def test_a_conversion_shared_by_two_readers_is_counted_once(calibrated):
    """`main` and `proj` both read the stem's output: a misaligned stem count makes ORT
    convert that tensor once, so each reader pays half of the input conversion."""
    _, groups, lut, _ = calibrated
    main, proj = _layer(groups, "main"), _layer(groups, "proj")
    cost = lut.cost_model(groups, calibrated=False)
    for entry in lut.entries.values():
        entry.layout_rate = 1e-6
    try:
        cost = lut.cost_model(groups, calibrated=False)
        one_reader = 1e-6 * 13 * 8 * 8  # 13 misaligned input channels of 8x8
        assert cost.components(main, 13, 48)[1] == pytest.approx(one_reader / 2 + 1e-6 * 48 * 8 * 8)
        assert cost.components(proj, 13, 32)[1] == pytest.approx(one_reader / 2 + 1e-6 * 32 * 8 * 8)
    finally:
        for entry in lut.entries.values():
            entry.layout_rate = 0.0


def test_savings_features_are_zero_for_the_dense_plan(calibrated):
    _, groups, lut, _ = calibrated
    cost = lut.cost_model(groups)
    assert np.allclose(savings_features(cost, groups, {}), 0.0)


def test_calibration_stops_when_its_time_is_spent():
    model = from_proto(two_reader_net())
    config = CalibrationConfig(plans=8, rounds=1, runs_per_round=1, max_seconds=0.0, min_plans=3)
    lut = build_calibrated_lut(model, get_target("cpu"), backend=FakeBackend(in_context=1.2), calibration=config)
    assert lut.record_for(analyze(model)).calibration["plans"] == 3


def test_calibration_stops_when_its_inferences_are_spent():
    model = from_proto(two_reader_net())
    config = CalibrationConfig(plans=8, rounds=1, runs_per_round=1, max_inferences=0.0, min_plans=3)
    lut = build_calibrated_lut(model, get_target("cpu"), backend=FakeBackend(in_context=1.2), calibration=config)
    record = lut.record_for(analyze(model)).calibration
    assert record["plans"] == 3 and record["stopped"] == "time" and record["inferences"] > 0


def test_calibration_stops_once_more_plans_would_not_move_the_fit():
    """With a loose `settle`, the fit on an exactly 1.3x device is done before its plans
    run out; with none (settle=0) every plan is timed."""
    model = from_proto(two_reader_net())
    runs = {}
    for settle in (0.0, 0.05):
        backend = FakeBackend(get_target("cpu"), in_context=1.3, fixed_ms=0.5)
        config = CalibrationConfig(plans=12, rounds=1, runs_per_round=1, settle=settle)
        lut = build_calibrated_lut(model, get_target("cpu"), sampling=SamplingConfig(validation_points=0),
                                   backend=backend, calibration=config)
        record = lut.record_for(analyze(model)).calibration
        runs[settle] = (record["plans"], record["stopped"], backend.models_run)
    assert runs[0.0] == (12, "all plans", 24)
    plans, stopped, models_run = runs[0.05]
    assert stopped == "settled" and config.min_plans <= plans < 12 and models_run == 2 * plans


def test_a_layers_cost_table_is_its_cost_at_every_pair(calibrated):
    """LutCostModel.layer_cost_table (what the solver prices layers with) gives exactly
    layer_cost at every pair of counts, zero included, with all four components weighed:
    a calibration, conversions at misaligned counts, weights and context."""
    _, groups, lut, _ = calibrated
    for entry in lut.entries.values():
        entry.layout_rate = 1e-6
    try:
        cost = lut.cost_model(groups)
        assert cost.calibration is not None
        for layer in groups.layers:
            ins, outs = list(range(layer.in_channels + 1)), list(range(layer.out_channels + 1))
            table = cost.layer_cost_table(layer, ins, outs)
            pointwise = np.array([[cost.layer_cost(layer, i, o) for o in outs] for i in ins])
            assert np.array_equal(table, pointwise), layer.name
            assert pointwise[1:, 1:].min() > 0 and not pointwise[0].any() and not pointwise[:, 0].any()
    finally:
        for entry in lut.entries.values():
            entry.layout_rate = 0.0
