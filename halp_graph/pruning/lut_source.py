"""Where `prune` gets its cost model: a LUT the user gave, a cached one, or a new one.

A LUT given on the command line must be for the requested target (same name, backend,
precision and batch) and must cover the model; otherwise prune refuses before doing any
work. Without one, prune looks in its cache (one file per target and machine, under
~/.cache/halp_graph/luts or $HALP_GRAPH_CACHE/luts), extends it with the model's layers
when they are missing, and saves it back. Device targets that cannot be measured here
fall back to their analytic estimate, with a warning.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass

from ..errors import BackendUnavailable, TargetError
from ..graph.groups import GroupSet
from ..latency import LatencyLUT, load_lut
from ..latency.backends import EstimateWarning, open_backend, unavailable_reason
from ..latency.build import measurement_fingerprint
from .lut_calibration import build_calibrated_lut


@dataclass
class CostSource:
    cost_model: object  # a halp_graph.cost_model.CostModel in ms
    lut: LatencyLUT
    origin: str  # "given", "cache", "built", "estimate"
    path: str | None
    measurable: bool  # can the target be timed on this machine (closed loop)?


def cache_dir() -> str:
    root = os.environ.get("HALP_GRAPH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "halp_graph")
    path = os.path.join(root, "luts")
    os.makedirs(path, exist_ok=True)
    return path


def _same_target(lut: LatencyLUT, target) -> list[str]:
    want = target.to_json()
    return [f"{key} {lut.target.get(key)!r} (LUT) vs {want[key]!r} (requested)"
            for key in ("name", "backend", "precision", "batch")
            if lut.target.get(key) is not None and lut.target.get(key) != want[key]]


def given_lut(path: str, groups: GroupSet, target) -> CostSource:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the device check below says it in one line
        lut = load_lut(path)
    differences = _same_target(lut, target)
    if differences:
        raise TargetError(f"{path} was built for another target: {'; '.join(differences)}")
    missing = lut.missing_layers(groups)
    if missing:
        raise TargetError(f"{path} does not cover this model: {len(missing)} of its layers are "
                          f"not in the table (e.g. {missing[0]}); build one with "
                          f"`python -m halp_graph lut build MODEL --target {target.name}`")
    if lut.record_for(groups) is None:
        raise TargetError(f"{path} prices this model's layers but has no dense latency for it; "
                          f"extend it with `lut build MODEL --update {path}`")
    lut.check_target(target)  # same target, another machine or version: a warning
    return CostSource(lut.cost_model(groups), lut, "given", path, unavailable_reason(target) is None)


def cached_or_built(model, groups: GroupSet, target, progress: bool) -> CostSource:
    reason = unavailable_reason(target)
    if reason is not None and not target.profile:
        raise BackendUnavailable(f"target {target.name} cannot be measured here: {reason}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", EstimateWarning)
        backend = open_backend(target)
    for w in caught:
        warnings.warn(str(w.message), EstimateWarning, stacklevel=3)
    try:
        fingerprint = measurement_fingerprint(backend, target)
        key = hashlib.sha1(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()[:12]
        path = os.path.join(cache_dir(), f"{target.name}-{key}.lut.json")
        existing = None
        if os.path.exists(path):
            try:
                existing = LatencyLUT.load(path)
            except TargetError:
                existing = None  # a damaged cache file is rebuilt, not trusted
        if existing is not None and existing.covers(groups) and existing.record_for(groups):
            return CostSource(existing.cost_model(groups), existing, "cache", path, not backend.estimate)
        lut = build_calibrated_lut(model, target, existing=existing, progress=progress, backend=backend)
    finally:
        backend.close()
    lut.save(path, force=True)
    origin = "estimate" if lut.is_estimate else "built"
    return CostSource(lut.cost_model(groups), lut, origin, path, not lut.is_estimate)
