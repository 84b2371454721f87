"""Step detection and one-dimensional staircase models, on synthetic latency curves."""

from __future__ import annotations

import math

import numpy as np

from halp_graph.latency.staircase import (ALIGNED, ALL, MISALIGNED, Staircase, Steps, detect_axis,
                                          fit_regime, fit_steps, isotonic)


def staircase(counts, width=16, base=0.1, jump=0.02):
    return [base + jump * math.ceil(c / width) for c in counts]


def test_detects_step_width_and_phase():
    counts = list(range(81, 129))
    assert fit_steps(counts, staircase(counts)) == Steps(16, 0)
    assert fit_steps(counts, [0.1 + 0.05 * math.ceil((c - 5) / 8) for c in counts]) == Steps(8, 5)
    # Steps no taller than twice the tolerance are a ramp within it: a line describes them.
    assert fit_steps(counts, [0.1 + 0.02 * math.ceil((c - 5) / 8) for c in counts]) == Steps(1)


def test_a_ramp_is_a_line_and_a_flat_window_is_unresolved():
    counts = list(range(1, 49))
    ramp = fit_regime(counts, [0.1 + 0.01 * c for c in counts])
    assert ramp.steps == Steps(1) and ramp.resolved
    flat = fit_regime(counts, [0.5] * len(counts))
    assert not flat.resolved
    assert fit_steps(counts, [0.5] * len(counts)) is None


def test_detects_alignment_regimes():
    # ORT's input axis: multiples of 4 on a 16-wide staircase, the rest on a slow ramp.
    counts = list(range(81, 129))
    values = [0.1 + 0.02 * math.ceil(c / 16) if c % 4 == 0 else 0.3 + 0.004 * c for c in counts]
    structure, resolved = detect_axis(counts, values)
    assert resolved and structure.align == 4
    assert structure.steps[ALIGNED] == Steps(16, 0)
    assert structure.steps[MISALIGNED].width == 1
    assert structure.regime(96) == ALIGNED and structure.regime(97) == MISALIGNED


def test_plain_staircase_has_no_alignment():
    counts = list(range(81, 129))
    structure, _ = detect_axis(counts, staircase(counts))
    assert structure.align == 1 and structure.steps[ALL] == Steps(16)


def test_tolerates_noise_and_stray_timings():
    rng = np.random.default_rng(0)
    counts = np.arange(49, 97)
    values = np.array(staircase(counts, jump=0.03)) * (1 + 0.01 * rng.standard_normal(len(counts)))
    values[[3, 20, 37]] *= 1.08  # a timing disturbed by another process, one per step
    assert fit_steps(counts, values, rel_tol=0.04) == Steps(16)


def test_staircase_interpolates_levels_between_measured_steps():
    model = Staircase(Steps(16), [(16, 1.0), (64, 4.0)])
    assert model(1) == 1.0 and model(16) == 1.0
    assert model(17) == model(32) == 2.0  # steps 2 and 3 lie on the line between 1 and 4
    assert model(48) == 3.0 and model(200) == 4.0  # flat beyond the last measured step


def test_isotonic_smooths_dips_without_moving_monotone_data():
    assert isotonic(np.array([1.0, 2.0, 3.0])).tolist() == [1.0, 2.0, 3.0]
    assert isotonic(np.array([1.0, 3.0, 2.0, 4.0])).tolist() == [1.0, 2.5, 2.5, 4.0]



# ONNX Runtime's depthwise 3x3 stride-2 conv of EfficientNet-lite0 (96 channels at
# 112x112), timed on this project's CPU at counts 49..96 (ms, median): multiples of 4 run
# the NCHWc kernel at about 0.1 ms, the rest a generic one at 1-3 ms that wobbles by a third.
DEPTHWISE_49_96 = [
    0.8443, 0.8518, 0.8855, 0.1199, 0.9244, 0.9163, 1.0349, 0.0706, 1.2591, 1.1546, 1.0103, 0.1055,
    1.7134, 1.9188, 2.1945, 0.0837, 2.3538, 2.1723, 2.4819, 0.1045, 2.3013, 2.246, 2.3049, 0.0873,
    2.4696, 2.5999, 2.4071, 0.1257, 2.6144, 2.7326, 2.6205, 0.1527, 2.6454, 2.9299, 2.9521, 0.1144,
    3.1802, 3.0022, 2.9356, 0.0413, 1.8326, 1.9765, 2.2038, 0.0624, 1.875, 1.8102, 2.2348, 0.0879]


def test_counts_unlike_both_neighbours_are_a_regime_even_when_the_rest_is_noise():
    # One line through both regimes is the shorter description of these timings (the
    # misaligned ones fit no staircase), which priced the full layer at 2.4 ms: 30x its
    # own timing, a tenth of the whole model.
    counts = list(range(49, 97))
    structure, resolved = detect_axis(counts, DEPTHWISE_49_96, rel_tol=0.04, abs_tol=1e-3)
    assert resolved and structure.align == 4
    assert structure.regime(96) == ALIGNED and structure.regime(95) == MISALIGNED


def test_a_staircase_edge_is_not_a_regime():
    # An edge differs from one neighbour only: width-8 steps stay steps.
    counts = list(range(49, 97))
    structure, _ = detect_axis(counts, staircase(counts, width=8, jump=0.02))
    assert structure.align == 1 and structure.steps[ALL] == Steps(8)
