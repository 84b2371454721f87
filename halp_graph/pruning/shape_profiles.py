"""Pruning to a latency over several input shapes (shape profiles from --input-shapes).

Each profile fixes the model's inputs to one shape and carries a weight. The latency
tables price every profile's layers (their spatial sizes differ), and the solver's cost
is the weighted sum over profiles (`WeightedCostModel`); the closed loop times the pruned
model at every profile, each interleaved with the dense model at the same shape, and
judges the weighted latency: a budget of 0.5 means sum_p w_p pruned_p <= 0.5 sum_p w_p
dense_p. One profile is the plain case of fixing the input shape. The model that is
rewritten and written keeps its dynamic axes (its groups must be those found at the
shapes), unless --fix-shapes fixes it to its one profile first.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import CaptureError, SettingsError
from ..graph import analyze
from ..graph.capture_onnx import LoadedModel
from ..graph.groups import Group, GroupSet, Layer
from ..input_shapes import ShapeProfile, fix_input_shapes, parse_profiles
from ..latency.run_shapes import fill_shapes_from_a_run
from ..latency.timing import Timing
from .lut_source import cached_or_built, given_lut


@dataclass
class ShapedModel:
    profile: ShapeProfile
    model: LoadedModel  # the dense model with its inputs fixed to the profile
    groups: GroupSet


def shaped_models(model: LoadedModel, profiles: list[ShapeProfile], reference: GroupSet) -> list[ShapedModel]:
    """The model fixed to every profile, each with groups that must match `reference` (the
    groups the plan is made for): same ids, sizes and layers."""
    out = []
    for profile in profiles:
        fixed = fix_input_shapes(model, profile.shapes)
        groups = analyze(fixed)
        fill_shapes_from_a_run(groups.graph, fixed)
        mine = [(g.id, g.size, g.prunable) for g in groups]
        if mine != [(g.id, g.size, g.prunable) for g in reference] or \
                [layer.name for layer in groups.layers] != [layer.name for layer in reference.layers]:
            raise CaptureError(f"--input-shapes {profile.label()}: the model's channel groups differ at "
                               f"this shape from the first profile's; prune one shape at a time")
        out.append(ShapedModel(profile, fixed, groups))
    return out


class WeightedCostModel:
    """The weighted sum of per-profile cost models, keyed by layer name."""

    def __init__(self, parts: list[tuple[float, object, GroupSet]]):
        self.parts = [(w, cm, {layer.name: layer for layer in g.layers}) for w, cm, g in parts]
        self.unit = getattr(parts[0][1], "unit", "ms")

    def layer_cost(self, layer: Layer, kept_in: int, kept_out: int) -> float:
        return sum(w * cm.layer_cost(layers[layer.name], kept_in, kept_out) for w, cm, layers in self.parts)

    def candidate_counts(self, group: Group) -> list[int]:
        counts: set[int] = set()
        for _, cm, _ in self.parts:
            counts.update(cm.candidate_counts(group))
        return sorted(counts)

    def dense_cost(self) -> float:
        return sum(w * cm.dense_cost() for w, cm, _ in self.parts)

    def unpriced_ms(self, node_names) -> float:
        return sum(w * cm.unpriced_ms(node_names) for w, cm, _ in self.parts if hasattr(cm, "unpriced_ms"))


@dataclass
class WeightedTiming:
    """A Timing-like weighted sum over profiles, with the per-profile timings."""

    median_ms: float
    min_ms: float
    per_shape: list[Timing]


def weighted(timings: list[Timing], weights: list[float]) -> WeightedTiming:
    return WeightedTiming(sum(w * t.median_ms for w, t in zip(weights, timings)),
                          sum(w * t.min_ms for w, t in zip(weights, timings)), timings)


def fixed_for(pruned: LoadedModel, profiles: list[ShapeProfile]) -> list[LoadedModel]:
    """The pruned model at every profile's shape (it keeps the original's dynamic axes)."""
    return [fix_input_shapes(pruned, p.shapes) for p in profiles]


def per_shape_rows(profiles: list[ShapeProfile], dense: WeightedTiming, pruned: WeightedTiming) -> list[dict]:
    return [{"shapes": p.label(), "weight": p.weight, "dense_ms": d.median_ms, "pruned_ms": q.median_ms,
             "ratio": q.median_ms / d.median_ms if d.median_ms else None}
            for p, d, q in zip(profiles, dense.per_shape, pruned.per_shape)]


def shaped_input(loaded: LoadedModel, input_shapes, fix_shapes: bool) -> tuple[LoadedModel, list]:
    """(the model to rewrite and write, the shape profiles to time at). With fix_shapes the
    model itself is fixed to its one profile, and nothing is left to vary."""
    profiles = list(input_shapes or [])
    if profiles and not isinstance(profiles[0], ShapeProfile):
        profiles = parse_profiles([p.split() if isinstance(p, str) else p for p in profiles])
    if fix_shapes:
        if len(profiles) != 1:
            raise SettingsError("--fix-shapes writes the model at one shape: give one --input-shapes")
        return fix_input_shapes(loaded, profiles[0].shapes), []
    return loaded, profiles


def same_groups(dynamic: GroupSet, shaped: GroupSet) -> GroupSet:
    """The groups of the model as it will be rewritten (dynamic axes kept), which must be
    those found at the given shape."""
    if [(g.id, g.size, g.prunable) for g in dynamic] != [(g.id, g.size, g.prunable) for g in shaped]:
        frozen = [g.id for g in dynamic if g.id in {h.id for h in shaped.prunable()} and not g.prunable]
        raise CaptureError("the model's channel groups differ between its dynamic axes and the given "
                           f"--input-shapes (e.g. {', '.join(frozen[:3]) or 'their layout'}); "
                           "add --fix-shapes to prune and write it at that shape")
    return dynamic


def cost_source(loaded: LoadedModel, groups: GroupSet, shaped: list, target, lut: str | None, progress: bool):
    """The latency tables: one model, or every shape profile with the weighted sum of their
    cost models (the first profile's table stands for the rest in the report)."""
    if not shaped:
        return given_lut(lut, groups, target) if lut else cached_or_built(loaded, groups, target, progress)
    sources = [given_lut(lut, s.groups, target) if lut else cached_or_built(s.model, s.groups, target, progress)
               for s in shaped]
    model = WeightedCostModel([(s.profile.weight, src.cost_model, s.groups) for s, src in zip(shaped, sources)])
    return dataclasses.replace(sources[0], cost_model=model,
                               measurable=all(src.measurable for src in sources))
