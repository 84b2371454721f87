"""Fidelity metrics on cases whose answers are known by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from halp_graph.fidelity import FidelityMeter, distribution, kl_divergence


def test_identical_outputs_are_perfect():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((16, 5)).astype(np.float32)
    feature = rng.standard_normal((16, 3, 4, 4)).astype(np.float32)
    meter = FidelityMeter(["logits", "feature"])
    meter.update([logits, feature], [logits.copy(), feature.copy()])
    out = meter.result()
    assert out["agreement"] == 1.0 and out["kl"] == pytest.approx(0.0, abs=1e-12)
    for o in out["outputs"].values():
        assert o["rel_l2"] == 0.0 and o["cosine"] == pytest.approx(1.0)
    assert "agreement" not in out["outputs"]["feature"]  # not classifier-like


def test_negated_output_has_cosine_minus_one_and_relative_error_two():
    x = np.random.default_rng(1).standard_normal((8, 2, 3)).astype(np.float32)
    meter = FidelityMeter(["y"])
    meter.update([x], [-x])
    o = meter.result()["outputs"]["y"]
    assert o["cosine"] == pytest.approx(-1.0) and o["rel_l2"] == pytest.approx(2.0)


def test_agreement_and_accuracy_count_arg_max_classes_over_batches():
    dense = np.array([[3, 1, 0], [0, 2, 1], [1, 0, 5], [2, 4, 0]], np.float32)
    pruned = np.array([[2, 1, 0], [0, 1, 3], [0, 0, 1], [0, 4, 1]], np.float32)  # sample 1 flips
    labels = np.array([0, 1, 0, 1])
    whole = FidelityMeter(["p"])
    whole.update([dense], [pruned], labels)
    split = FidelityMeter(["p"])
    split.update([dense[:3]], [pruned[:3]], labels[:3])
    split.update([dense[3:]], [pruned[3:]], labels[3:])
    for out in (whole.result(), split.result()):
        assert out["agreement"] == pytest.approx(0.75)
        assert out["accuracy"] == {"dense": 0.75, "pruned": 0.5, "samples": 4}
    assert split.result()["outputs"]["p"]["rel_l2"] == pytest.approx(whole.result()["outputs"]["p"]["rel_l2"])


def test_kl_of_known_distributions_and_of_logits():
    p = np.array([[0.5, 0.5]])
    q = np.array([[0.25, 0.75]])
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert kl_divergence(p, q)[0] == pytest.approx(expected)
    # logits are turned into distributions by softmax; shifting logits changes nothing
    logits = np.array([[math.log(1.0), math.log(3.0)]])
    assert np.allclose(distribution(logits), [[0.25, 0.75]])
    assert kl_divergence(logits + 7.0, logits)[0] == pytest.approx(0.0, abs=1e-12)


def test_mismatched_shapes_are_refused():
    meter = FidelityMeter(["y"])
    with pytest.raises(ValueError, match="dense shape"):
        meter.update([np.zeros((2, 3))], [np.zeros((2, 4))])
