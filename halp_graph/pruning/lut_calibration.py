"""Whole-model calibration: weighing a LUT's cost components on pruned copies of the model.

A layer timed alone is not quite the layer inside the model. Inside, its weights come
cold from memory (a layer timed in a loop finds them in cache), layout conversions and
kernels outside the layers change with the channels they carry, and the conversions a
misaligned count causes are estimated, not timed. Each of these moves with the channels
a plan keeps, so the sum of isolated savings misses a share of the real saving that
differs from model to model (on this machine's ORT CPU: 4 to 12% of the pruned latency
for random plans, mostly too slow).

So after the layers are timed, `calibrate` times a few pruned copies of the model (16,
or fewer once they have cost 600 dense inferences of CPU time, or a minute, for a slow
model, or, with `settle`, once more plans would not move the fit), interleaved with the
dense model as the fidelity benchmark does, and fits the weights
of the cost model's components (latency.cost.COMPONENTS: layer surfaces, boundary conversions,
weight megabytes, context costs) to the savings measured:

    measured saving ~= sum over layers of  w . (components at full - components kept)

by least squares on the relative error of the predicted latency, held near the face
value (1, 1, 0, 1) by a prior worth one plan and within physical bounds (no negative
cost). Each input shape of a network is calibrated on its own plans: starting a second
shape from the first shape's fit as a prior, on 4 plans, priced resnet50 and
mobilenet_v2 at 192x192 worse than their face value on the same measured plans (the
fit corrects each build's own measurements more than the machine; docs/latency.md).
Half of the plans keep random counts in random groups (misaligned counts and
their conversions), half keep counts the LUT proposes to the solver (aligned step
edges). The plans come from their own random generator (`CalibrationConfig.seed`), so
they are independent of any plan a benchmark draws. The fit and its in-sample errors
before and after are stored in the LUT's record for the model and applied by
LutCostModel (`cost_model(groups, calibrated=False)` gives the face value).

Calibrating needs the rewrite and plans, stages above the latency tables, so it lives
here and reaches the LUT build as a hook: `build_calibrated_lut` is
`halp_graph.latency.build_lut` with `calibrate=calibrator(config)`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import lsq_linear

from ..cost_model import all_counts
from ..latency import LatencyLUT, build_lut
from ..latency.build import Calibrator
from ..latency.cost import COMPONENTS, FACE_VALUE
from ..latency.whole_model import measure_interleaved
from ..passes import prune_channels
from ..solver import make_plan

BOUNDS = ((0.5, 2.0), (0.0, 3.0), (0.0, np.inf), (0.0, 5.0))  # per component weight


@dataclass(frozen=True)
class CalibrationConfig:
    plans: int = 16
    rounds: int = 12  # interleaved rounds per plan (measure_interleaved)
    runs_per_round: int = 3
    p_touch: float = 0.7  # chance a plan prunes a group
    prior: float = 1.0  # weight of the face-value prior, in plans
    seed: int = 20221122
    max_seconds: float = 60.0  # no further plan once this is spent, after min_plans
    max_inferences: float = 600.0  # nor once plans cost this many dense inferences (CPU)
    min_plans: int = 6
    # Stop once the fitted predictions of the plans so far are expected to move by less
    # than `settle` (relative) with more plans, `patience` plans in a row. Off by default
    # (0): at 0.005 it stopped mobilenet_v2 after 10 plans on a fit that then erred by 28%
    # on random plans (docs/latency.md).
    settle: float = 0.0
    patience: int = 2

    def to_json(self) -> dict:
        return dict(self.__dict__)


def calibration_counts(groups, cost, config: CalibrationConfig = CalibrationConfig()) -> list[dict[str, int]]:
    """Kept counts for `config.plans` plans: even ones draw uniformly among each touched
    group's admissible counts, odd ones among the counts the cost model proposes."""
    rng = np.random.default_rng(config.seed)
    plans = []
    for i in range(config.plans):
        kept = {}
        for group in groups.prunable():
            if rng.random() > config.p_touch:
                continue
            counts = all_counts(group) if i % 2 == 0 else cost.candidate_counts(group)
            counts = [c for c in counts if 0 < c < group.size]
            if counts:
                kept[group.id] = int(rng.choice(counts))
        plans.append(kept)
    return plans


def savings_features(cost, groups, kept: dict[str, int]) -> np.ndarray:
    """Sum over layers of (components at full - components at the kept counts)."""
    sizes = {g.id: g.size for g in groups}
    total = np.zeros(len(COMPONENTS))
    for layer in groups.layers:
        full = cost.components(layer, layer.in_channels, layer.out_channels)
        now = cost.components(layer, layer.kept_in(kept, sizes), layer.kept_out(kept, sizes))
        total += np.asarray(full) - np.asarray(now)
    return total


def fit_weights(features: np.ndarray, dense: float, measured: np.ndarray,
                prior: float = 1.0) -> np.ndarray:
    """Component weights minimising the relative error of dense - features @ w against
    `measured` (one row per plan), with a ridge towards FACE_VALUE worth `prior` plans
    and the weights kept within BOUNDS."""
    features = np.asarray(features, dtype=float)
    measured = np.asarray(measured, dtype=float)
    a = features / measured[:, None]
    b = (dense - measured) / measured
    scale = np.sqrt(np.mean(a ** 2, axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    face = np.asarray(FACE_VALUE)
    a = np.vstack([a, np.sqrt(prior) * np.diag(scale)])
    b = np.concatenate([b, np.sqrt(prior) * scale * face])
    lo, hi = zip(*BOUNDS)
    return lsq_linear(a, b, bounds=(np.asarray(lo), np.asarray(hi))).x


def calibrate(lut, model, groups, backend, target,
              config: CalibrationConfig = CalibrationConfig()) -> dict | None:
    """Time pruned copies of `model` against it on `backend` and fit the component
    weights of its LUT cost model (see the module docstring). Returns the calibration
    record (None where the backend cannot run models one by one)."""
    cost = lut.cost_model(groups, calibrated=False)
    dense = cost.dense_cost()
    rng = np.random.default_rng(config.seed + 1)
    rows, measured = [], []
    started, cpu_started = time.monotonic(), time.process_time()

    def inferences() -> float:  # CPU time spent so far, in dense inferences
        return (time.process_time() - cpu_started) * 1e3 / max(dense, 1e-9)

    stopped, previous, calm = "all plans", None, 0
    for kept in calibration_counts(groups, cost, config):
        if len(rows) >= config.min_plans and (time.monotonic() - started > config.max_seconds
                                              or inferences() > config.max_inferences):
            stopped = "time"
            break  # a slow model: fewer plans rather than a build without end
        if calm >= config.patience:
            stopped = "settled"
            break
        scores = {g: rng.random(groups[g].size) for g in kept}
        plan = make_plan(groups, scores, kept)
        pruned = prune_channels(model, plan, groups)
        try:
            dense_t, pruned_t = measure_interleaved([model, pruned], target, rounds=config.rounds,
                                                    runs_per_round=config.runs_per_round,
                                                    backend=backend)
        except NotImplementedError:
            return None
        rows.append(savings_features(cost, groups, kept))
        measured.append(dense * pruned_t.median_ms / dense_t.median_ms)
        if config.settle > 0 and len(rows) >= config.min_plans - 1:
            fitted = fit_weights(np.asarray(rows), dense, np.asarray(measured), config.prior)
            if previous is not None:
                a, b = (dense - np.asarray(rows) @ w for w in (previous, fitted))
                # The prior's pull fades as 1/plans, so a plan that moves the fit by m
                # leaves about m * plans still to come.
                drift = len(rows) * float(np.max(np.abs(a - b) / np.asarray(measured)))
                calm = calm + 1 if drift < config.settle and len(rows) >= config.min_plans else 0
            previous = fitted
    rows, measured = np.asarray(rows), np.asarray(measured)
    weights = fit_weights(rows, dense, measured, config.prior)
    face = np.abs((dense - rows @ np.asarray(FACE_VALUE)) / measured - 1)
    after = np.abs((dense - rows @ weights) / measured - 1)
    return {"weights": [float(f"{w:.6g}") for w in weights], "components": list(COMPONENTS),
            "plans": len(measured), "stopped": stopped, "config": config.to_json(),
            "inferences": round(inferences(), 1),
            "error_face_value": {"median": round(float(np.median(face)), 4), "max": round(float(face.max()), 4)},
            "error_fitted": {"median": round(float(np.median(after)), 4), "max": round(float(after.max()), 4)}}


def calibrator(config: CalibrationConfig = CalibrationConfig()) -> Calibrator:
    """The `calibrate` hook of `halp_graph.latency.build_lut` that runs `calibrate` with
    `config`."""
    return functools.partial(calibrate, config=config)


def build_calibrated_lut(model, target, *, calibration: CalibrationConfig | None = CalibrationConfig(),
                         **options) -> LatencyLUT:
    """`halp_graph.latency.build_lut(model, target, **options)`, its cost components then
    calibrated on pruned copies of the model (`calibration=None` skips that)."""
    hook = calibrator(calibration) if calibration is not None else None
    return build_lut(model, target, calibrate=hook, **options)
