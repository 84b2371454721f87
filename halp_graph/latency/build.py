"""Building a LUT for a model on a target: cut, deduplicate, sample, time the whole.

`build_lut` cuts every layer with its fused tail (subgraph.py), merges layers with the
same signature and full channel pair into one entry, orders entries so that each
family's structure is probed once on a layer where steps show clearly, and samples each
entry (sampler.py). Every timing is cached by (layer signature, ci, co): repeated
blocks, and pairs that two entries share, are timed once. An existing LUT for the same
target can be passed in to reuse its entries (an incremental build). Finally the dense
model is timed, which is what predictions subtract savings from, and what its kernels
cost in context outside the layers is recorded where the backend can tell (ORT's
profiler). A `calibrate` hook, when given, then fits the cost components on pruned
copies of the model timed against it, with the backend still open: pruning a copy needs
the rewrite, a stage above this one, so the hook comes from there
(`halp_graph.pruning.lut_calibration.build_calibrated_lut` passes it).
"""

from __future__ import annotations

import math
import os
import time
from typing import Callable

from ..graph import GroupSet, analyze, as_loaded
from ..graph.capture_onnx import LoadedModel
from ..version import __version__
from .backends import Backend, open_backend
from .domains import layer_domains
from .lut import LatencyLUT, LutEntry, ModelRecord, model_digest, now_iso
from .progress import Progress
from .run_shapes import fill_shapes_from_a_run
from .sampler import SAMPLER_VERSION, LayerSampler, SamplingConfig
from .staircase import AxisStructure
from .subgraph import LayerSpec, layer_specs
from .subgraph import digest as signature_digest
from .targets import Target
from .timing import DEFAULT, MODEL, TimingConfig

# calibrate(lut, model, groups, backend, target) -> the model's calibration record, or None
Calibrator = Callable[[LatencyLUT, LoadedModel, GroupSet, Backend, Target], "dict | None"]


def family_of(spec: LayerSpec) -> str:
    """Layers whose kernels step alike: op, conv kind, kernel and stride."""
    kind = "dw" if spec.depthwise else (f"g{spec.groups}" if spec.groups > 1 else "plain")
    kernel = "x".join(map(str, spec.attrs.get("kernel_shape", [])))
    stride = "x".join(map(str, spec.attrs.get("strides", [])))
    return f"{spec.op_type}|{kind}|k{kernel}|s{stride}"


def measurement_fingerprint(backend: Backend, target: Target) -> dict:
    """Where and how a table's numbers are measured: the backend's fingerprint (device,
    versions) with the sampler's version, the batch and the clock. Tables with different
    fingerprints are never mixed."""
    fingerprint = backend.fingerprint()
    versions = dict(fingerprint.get("versions") or {}, sampler=SAMPLER_VERSION)
    return dict(fingerprint, versions=versions, batch=target.batch, estimate=backend.estimate,
                clock=target.timing_clock)


def build_lut(model, target, *, sampling: SamplingConfig = SamplingConfig(),
              timing: TimingConfig = DEFAULT, model_timing: TimingConfig = MODEL,
              existing: LatencyLUT | None = None, progress: bool | Callable = False,
              name: str | None = None, backend=None,
              calibrate: Calibrator | None = None) -> LatencyLUT:
    """Measure `model` (a path, ModelProto or LoadedModel) on `target` into a LUT;
    `calibrate` (see the module docstring) runs after the dense model is timed, on
    measured backends only."""
    started = time.monotonic()
    loaded = as_loaded(model)
    groups = analyze(loaded)
    fill_shapes_from_a_run(groups.graph, loaded)
    specs = layer_specs(groups, batch=target.batch)
    backend = backend or open_backend(target)
    sampling = backend.sampling(sampling)
    fingerprint = measurement_fingerprint(backend, target)
    if existing is not None and existing.fingerprint != fingerprint:
        existing = None  # measured elsewhere: its entries cannot be mixed with ours
    lut = existing or LatencyLUT(target.to_json(), fingerprint, statistic="median")

    plan = _plan_entries(groups, specs, sampling.probe_points)
    bar = Progress(len(plan), "lut") if progress is True else None
    cache: dict[tuple[str, int, int], tuple[float, float]] = _seed_cache(lut)
    structures = load_structures(lut)
    layouts: dict[tuple[str, int, int], float] = {}
    timed = 0

    def timer(spec: LayerSpec):
        sig = spec.signature_key()

        def keep(ci: int, co: int, t) -> None:
            nonlocal timed
            cache[(sig, ci, co)] = (t.median_ms, t.min_ms)
            layouts[(sig, ci, co)] = t.layout_ms
            timed += 1

        def measure(ci: int, co: int) -> float:
            if (sig, ci, co) not in cache:
                keep(ci, co, backend.time_layer(spec, ci, co, timing))
            return cache[(sig, ci, co)][0]

        def prefetch(pairs: list[tuple[int, int]]) -> None:
            """Time together the pairs the sampler is about to ask for (a backend may
            time them in one session: Backend.time_layers)."""
            todo = [pair for pair in dict.fromkeys(pairs) if (sig, *pair) not in cache]
            if len(todo) < 2:
                return
            for (ci, co), t in backend.time_layers(spec, todo, timing).items():
                keep(ci, co, t)

        measure.prefetch = prefetch
        return measure

    for done, (key, spec, names, din, dout) in enumerate(plan):
        entry = lut.entries.get(key)
        if entry is None:
            sampler = LayerSampler(din, dout, timer(spec), sampling, family=family_of(spec),
                                   structures=structures, tied=spec.depthwise,
                                   multiplier=spec.multiplier)
            surface = sampler.run()
            sig = spec.signature_key()
            points = {pair: cache[(sig, *pair)] for pair in surface.points}
            entry = LutEntry(key, spec.signature(), spec.describe(), family_of(spec),
                             (spec.full_in, spec.full_out), surface.to_json(), points,
                             validation=sampler.validation,
                             layout_rate=_layout_rate(spec, layouts.get((sig, spec.full_in, spec.full_out),
                                                                        math.nan)))
            lut.entries[key] = entry
        entry.layers = sorted(set(entry.layers) | set(names))
        if bar:
            bar.update(done + 1, f"{timed} timings  {spec.describe()[:40]}")
        elif callable(progress):
            progress(done + 1, len(plan), spec)
    _fill_layout_rates(lut, {key: spec for key, spec, *_ in plan})
    lut.meta["structures"] = dump_structures(structures)
    dense = backend.time_model(loaded, model_timing)
    digest = model_digest(groups)
    record = ModelRecord(name or _model_name(loaded), dense,
                         {name: spec.entry_key() for name, spec in specs.items()},
                         backend.context_costs(loaded) if not backend.estimate else {})
    lut.models[digest] = record
    if calibrate is not None and not backend.estimate:
        record.calibration = calibrate(lut, loaded, groups, backend, target)
    lut.meta.update({"halp_graph": __version__, "created": now_iso(),
                     "build_seconds": round(time.monotonic() - started, 2),
                     "timed_points": timed + lut.meta.get("timed_points", 0) if existing else timed,
                     "sampling": sampling.to_json()})
    if bar:
        fitted = record.calibration
        note = (f", calibrated on {fitted['plans']} plans (error {100 * fitted['error_face_value']['median']:.1f}% "
                f"-> {100 * fitted['error_fitted']['median']:.1f}%)" if fitted else "")
        bar.close(f"lut: {len(lut.entries)} entries from {len(specs)} layers, {timed} timings, "
                  f"dense {dense.median_ms:.3f} ms{note}, {time.monotonic() - started:.0f} s")
    backend.close()
    return lut


def load_structures(lut: LatencyLUT) -> dict:
    """The step structures an earlier build on this backend detected, by (family, axis,
    context): a new model or input shape then checks them on two points instead of probing."""
    out = {}
    for item in lut.meta.get("structures", []):
        out[(item["family"], item["axis"], item["context"])] = AxisStructure.from_json(item["structure"])
    return out


def dump_structures(structures: dict) -> list[dict]:
    return [{"family": family, "axis": axis, "context": context, "structure": s.to_json()}
            for (family, axis, context), s in sorted(structures.items())]


def _layout_rate(spec: LayerSpec, layout_ms: float) -> float:
    """Milliseconds per element of a layout conversion, from the conversions timed with
    the full layer (its input and output); 0 where the backend converts nothing, NaN
    where it was not told (the full pair timed beside other copies: ort_packed.py)."""
    elements = math.prod(spec.input.shape) + math.prod(spec.output.shape)
    return layout_ms / elements if elements else 0.0


def _fill_layout_rates(lut: LatencyLUT, specs: dict[str, LayerSpec]) -> None:
    """An entry whose conversions were not told gets the median rate of the table's
    entries that were: a conversion is a copy between two layouts, whose cost per element
    varies little from layer to layer (within 2x over mobilenet_v2's and efficientnet_b0's
    convs on this EPYC), where leaving it at 0 priced every misaligned count's
    conversions at nothing. Only convs are given it: ORT's CPU provider blocks no other
    layer, and an entry with no alignment in its surface pays none anyway (cost.py)."""
    told = [e.layout_rate for e in lut.entries.values() if math.isfinite(e.layout_rate) and e.layout_rate > 0]
    typical = sorted(told)[len(told) // 2] if told else 0.0
    for key, entry in lut.entries.items():
        if not math.isfinite(entry.layout_rate):
            spec = specs.get(key)
            entry.layout_rate = typical if spec is not None and spec.op_type == "Conv" else 0.0


def _plan_entries(groups, specs: dict[str, LayerSpec], window: int = 48):
    """[(entry key, spec, layer names, domain in, domain out)] in sampling order."""
    merged: dict[str, list] = {}
    for layer in groups.layers:
        spec = specs[layer.name]
        din, dout = layer_domains(groups, layer)
        key = spec.entry_key()
        if key in merged:
            item = merged[key]
            item[2].append(layer.name)
            item[3], item[4] = item[3].merge(din), item[4].merge(dout)
        else:
            merged[key] = [key, spec, [layer.name], din, dout]
    items = list(merged.values())
    # Within a family, probe first where steps show best: both axes wider than the
    # probe window, and as small as that allows (a step is then a large share).
    items.sort(key=lambda it: (family_of(it[1]), _probe_rank(it[1], window)))
    return [tuple(it) for it in items]


def _probe_rank(spec: LayerSpec, window: int) -> tuple:
    return (min(spec.full_in, spec.full_out) < window, abs(max(spec.full_in, spec.full_out) - 128))


def _seed_cache(lut: LatencyLUT) -> dict:
    cache = {}
    for entry in lut.entries.values():
        sig = _signature_key(entry.signature)
        for pair, values in entry.points.items():
            cache[(sig, *pair)] = values
    return cache


def _signature_key(signature: dict) -> str:
    return signature_digest(signature)


def _model_name(model: LoadedModel) -> str:
    return os.path.basename(model.path) if model.path else (model.proto.graph.name or "model")
