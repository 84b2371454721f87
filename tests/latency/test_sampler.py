"""Sampling a layer's 2-D latency surface: what is timed, and how well the surface predicts."""

from __future__ import annotations

import numpy as np
import pytest

from halp_graph.latency.sampler import LayerSampler, QUICK_SAMPLING, SamplingConfig, _flat_check
from halp_graph.latency.staircase import ALIGNED, Steps
from halp_graph.latency.surface import AxisDomain, Surface

from .fake_backend import law


def sample(ci, co, config=SamplingConfig(), structures=None, **domain):
    calls = []

    def measure(a, b):
        calls.append((a, b))
        return law(a, b)

    sampler = LayerSampler(AxisDomain(domain.get("lo_in", 1), ci, domain.get("q_in", 1), domain.get("free_in", True)),
                           AxisDomain(1, co, 1, domain.get("free_out", True)), measure, config,
                           family="conv", structures={} if structures is None else structures)
    return sampler.run(), calls, sampler


def errors(surface, ci_max, co_max, aligned: bool, n=400, seed=0):
    rng = np.random.default_rng(seed)
    pairs = [(int(a), int(b)) for a, b in zip(rng.integers(1, ci_max + 1, n), rng.integers(1, co_max + 1, n))
             if (a % 4 == 0) == aligned]
    return np.array([abs(surface(a, b) - law(a, b)) / law(a, b) for a, b in pairs])


def worst_error(surface, ci_max, co_max):
    """Worst relative error over pairs whose input count is a multiple of 4 (the tiled
    kernel: an exact staircase the surface must reproduce)."""
    return errors(surface, ci_max, co_max, aligned=True).max()


@pytest.mark.parametrize("ci,co", [(256, 64), (64, 256), (512, 2048)])
def test_recovers_an_exact_staircase_surface(ci, co):
    surface, calls, _ = sample(ci, co)
    assert surface.align_in == 4 and surface.align_out == 1
    assert surface.steps_in["all"][ALIGNED] == Steps(16)
    assert worst_error(surface, ci, co) < 1e-9
    # The other counts step every 6 outputs by less than the tolerance at the top of the
    # axis: a ramp there, so small counts carry an error of up to about one step.
    rest = errors(surface, ci, co, aligned=False)
    assert np.median(rest) < 0.02 and rest.max() < 0.15
    assert len(calls) < 0.01 * ci * co + 400  # far fewer than the ci*co pairs


def test_family_structure_is_reused_and_costs_few_timings():
    structures = {}
    _, first, _ = sample(256, 256, structures=structures)
    surface, second, _ = sample(512, 1024, structures=structures)
    assert len(second) < len(first) / 2
    assert worst_error(surface, 512, 1024) < 1e-9


def test_each_pair_is_timed_once():
    _, calls, _ = sample(128, 128)
    assert len(calls) == len(set(calls))


def test_fixed_input_axis_samples_only_the_output_sweep():
    surface, calls, _ = sample(4, 64, free_in=False, lo_in=4)
    assert {ci for ci, _ in calls} == {4}
    assert all(abs(surface(4, co) - law(4, co)) < 1e-12 for co in range(1, 65))


def test_only_reachable_counts_are_timed():
    surface, calls, _ = sample(96, 64, q_in=8, lo_in=8)
    assert all(ci % 8 == 0 for ci, _ in calls)


def test_tied_depthwise_axis():
    calls = []

    def measure(a, b):
        calls.append((a, b))
        return law(a, a)

    surface = LayerSampler(AxisDomain(1, 144), AxisDomain(1, 144), measure, SamplingConfig(),
                           tied=True).run()
    assert all(b == a for a, b in calls)
    error = {c: abs(surface(c, c) - law(c, c)) / law(c, c) for c in range(1, 145)}
    assert max(e for c, e in error.items() if c % 4 == 0) < 1e-9
    assert max(e for c, e in error.items() if c % 4) < 0.1


def test_validation_points_are_recorded():
    _, _, sampler = sample(64, 64, config=SamplingConfig(validation_points=3))
    assert 1 <= len(sampler.validation) <= 3
    for ci, co, measured, predicted in sampler.validation:
        assert measured == pytest.approx(law(ci, co))
        assert predicted == pytest.approx(measured, rel=1e-6)


def test_surface_round_trips_through_json():
    surface, _, _ = sample(128, 64, config=QUICK_SAMPLING)
    again = Surface.from_json(surface.to_json(), dict(surface.points))
    for ci, co in [(1, 1), (17, 33), (64, 64), (128, 64), (127, 5)]:
        assert again(ci, co) == surface(ci, co)


def test_removed_layer_costs_nothing():
    surface, _, _ = sample(32, 32, config=QUICK_SAMPLING)
    assert surface(0, 32) == 0.0 and surface(32, 0) == 0.0


def test_alignment_survives_a_wider_probe():
    """A depthwise layer whose aligned counts ramp gently (no step within the dense
    window) while misaligned counts run a kernel ten times slower: widening the probe
    over aligned counts must keep the alignment, or every aligned count would be priced
    at the misaligned kernel (seen on ORT's 5x5 stride-2 depthwise convs)."""
    def law_dw(c):
        return 0.02 + 0.0002 * c if c % 4 == 0 else 0.5 + 0.002 * c

    surface = LayerSampler(AxisDomain(1, 144), AxisDomain(1, 144),
                           lambda a, b: law_dw(a), SamplingConfig(), tied=True).run()
    assert surface.align_in == 4
    error = {c: abs(surface(c, c) - law_dw(c)) / law_dw(c) for c in range(1, 145)}
    assert max(error.values()) < 0.05


def narrow_law(ci, co):
    """The fake law, except that fewer than 16 input channels run a kernel of their own
    that costs more than 16 aligned channels do (ORT's NCHWc conv reading plain input)."""
    if ci < 16:
        return 0.02 + 0.0012 * ci * np.ceil(co / 16)
    return law(ci, co)


@pytest.mark.parametrize("ci,co", [(64, 256), (256, 64), (16, 96)])
def test_narrow_regime_is_detected_and_priced(ci, co):
    calls = []

    def measure(a, b):
        calls.append((a, b))
        return narrow_law(a, b)

    surface = LayerSampler(AxisDomain(1, ci), AxisDomain(1, co), measure, SamplingConfig(),
                           family="conv").run()
    assert surface.narrow_in == 16
    assert surface.regime_in(15) == "narrow" and surface.regime_in(16) != "narrow"
    pairs = [(a, b) for a in range(1, 16) for b in range(1, co + 1, 7)]
    worst = max(abs(surface(a, b) - narrow_law(a, b)) / narrow_law(a, b) for a, b in pairs)
    assert worst < 0.1
    again = Surface.from_json(surface.to_json(), dict(surface.points))
    assert again.narrow_in == 16 and again(13, 50) == surface(13, 50)


def test_no_narrow_regime_where_low_counts_are_cheaper():
    surface, _, _ = sample(64, 64)
    assert surface.narrow_in == 0
    assert "narrow" not in surface.to_json()


def test_narrow_regime_that_is_cheaper_than_its_step():
    """Below 16 input channels a 3x3 conv runs a kernel linear in the count, while from
    16 on it steps every 16: 8 channels cost half of 16 although one step holds both."""
    def law3(ci, co):
        return (0.001 * ci if ci < 16 else 0.016 * np.ceil(ci / 16)) * np.ceil(co / 16) + 0.002

    surface = LayerSampler(AxisDomain(1, 128), AxisDomain(1, 128), lambda a, b: law3(a, b),
                           SamplingConfig(), family="conv3").run()
    assert surface.narrow_in == 16
    worst = max(abs(surface(a, b) - law3(a, b)) / law3(a, b)
                for a in range(1, 129) for b in range(1, 129, 5) if a % 4 == 0 or a < 16)
    assert worst < 0.05


@pytest.mark.parametrize("tied", [False, True])
def test_prefetching_times_what_is_asked_for_together_and_decides_nothing(tied):
    """A timer with `prefetch` is handed the pairs a step asks for at once (and a
    bisection's next midpoints with them); the surface, and every pair the sampler then
    asks for, are those of the same run without it. A second layer of the family reuses
    the first one's structures, and its first batch holds their flat checks."""
    def run(with_prefetch: bool):
        asked, batches, structures, surfaces = [], [], {}, []

        def measure(a, b):
            asked.append((a, b))
            return law(a, a if tied else b)

        if with_prefetch:
            measure.prefetch = lambda pairs: batches.append(list(pairs))
        for hi in (160, 144):
            start = len(batches)
            cached = structures.get(("conv", "out", "primary"))
            sampler = LayerSampler(AxisDomain(1, hi), AxisDomain(1, hi), measure,
                                   SamplingConfig(validation_points=3), family="conv",
                                   structures=structures, tied=tied)
            surfaces.append(sampler.run().to_json())
            if with_prefetch and hi == 144 and not tied:
                flat = _flat_check(cached, AxisDomain(1, hi))
                assert flat and {(144, 144)} | {(144, c) for c in flat} <= set(batches[start])
        return surfaces, asked, batches

    plain, asked_plain, _ = run(False)
    surfaces, asked, batches = run(True)
    assert asked == asked_plain
    assert surfaces == plain
    prefetched = {pair for batch in batches for pair in batch}
    assert len(max(batches, key=len)) >= 36  # a probe window goes as one batch
    assert set(asked) <= prefetched | {(160, 160), (144, 144)}  # tied layers ask the full pair alone
