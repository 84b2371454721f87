"""Option values from measured losses: measurements are reproduced where they were taken,
emptying costs what was measured (not the channels' score sum), and fewer kept channels
never lose less."""

from __future__ import annotations

import numpy as np

from halp_graph.solver.problem import measured_values


def _loss(values):
    return values.max() - values


def test_measured_points_are_reproduced_and_emptying_priced_by_its_measurement():
    scores = np.array([0.1, 0.2, 0.3, 0.4, 1.0, 2.0, 3.0, 4.0])  # sum 11
    options = np.array([0, 2, 4, 6, 8])  # kept counts
    points = [(2, 0.5), (4, 1.5), (6, 4.0), (8, 50.0)]  # (removed, measured loss)
    loss = _loss(measured_values(scores, options, points))
    by_kept = dict(zip(options.tolist(), loss.tolist()))
    assert by_kept[8] == 0.0
    assert by_kept[6] == 0.5 and by_kept[4] == 1.5 and by_kept[2] == 4.0
    assert by_kept[0] == 50.0  # emptying: the measured 50, not the score sum 11


def test_between_measurements_the_loss_follows_the_scores_curve():
    scores = np.array([0.0, 0.0, 1.0, 3.0])
    options = np.array([1, 2, 3, 4])
    loss = _loss(measured_values(scores, options, [(2, 0.1), (4, 9.0)]))
    # removing 3 channels adds score 1.0 of the 4.0 between the measurements at 2 and 4
    assert np.isclose(loss[0], 0.1 + (1.0 / 4.0) * (9.0 - 0.1))


def test_losses_never_fall_as_more_channels_go():
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = rng.random(16)
        options = np.arange(0, 17, 2)
        points = [(r, float(rng.random() * 3)) for r in (4, 8, 12, 16)]  # noisy, not monotone
        loss = _loss(measured_values(scores, options, points))
        assert np.all(np.diff(loss) <= 1e-12)  # options ascend in kept count
        assert np.all(measured_values(scores, options, points) >= 0)


def test_past_the_last_measurement_the_loss_grows_with_the_scores():
    scores = np.array([1.0, 1.0, 1.0, 1.0])
    options = np.array([1, 2, 3, 4])  # a cut group: never emptied, last measured at 2 removed
    loss = _loss(measured_values(scores, options, [(1, 0.2), (2, 0.6)]))
    assert np.isclose(loss[0], 0.6 * 3 / 2)  # 3 removed: the measured 0.6 scaled by score 3/2
