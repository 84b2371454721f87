"""The equivalence invariant, runnable (design.md, "The equivalence invariant").

A pruned model must compute what the original computes with every planned channel masked
to zero: for each output, max |pruned - masked| <= 1e-4 * max |masked| + 1e-7, in float32,
at every input shape checked (two or more for a model with dynamic axes). The tolerance
scales with the output, so outputs of 1e-12 cannot pass trivially; and a check in which
every output is below 1e-6 proves nothing: it is reported "vacuous", which is not a pass.
NaN anywhere is a failure.

`check_equivalence` runs the masked original and the pruned model in ONNX Runtime on the
same random inputs and returns a `Comparison`; `assert_equivalent` raises `NotEquivalent`
unless it is a pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from onnx import helper

from .graph import GroupSet, analyze, as_loaded
from .graph.capture_onnx import LoadedModel
from .passes import mask_channels
from .plan import PruningPlan
from .runtime import random_array, random_inputs, session

RTOL = 1e-4           # of the output's scale, max |masked|
ATOL = 1e-7           # the floor, for outputs that are legitimately near zero
VACUOUS_BELOW = 1e-6  # every output's scale below this: the check proves nothing

EQUIVALENT, NOT_EQUIVALENT, VACUOUS = "equivalent", "NOT equivalent", "vacuous"


@dataclass(frozen=True)
class OutputComparison:
    """One output at one input shape: the largest error, the scale (max |reference|) and
    the tolerance derived from it."""

    name: str
    max_abs: float
    scale: float
    tolerance: float
    nan: bool = False
    shape_mismatch: bool = False
    shape: str = ""  # the input shapes it ran at, when several were checked

    @property
    def ratio(self) -> float:
        """Error over tolerance: a pass is at most 1."""
        if self.nan or self.shape_mismatch:
            return math.inf
        if self.tolerance == 0:
            return 0.0 if self.max_abs == 0 else math.inf
        return self.max_abs / self.tolerance

    @property
    def ok(self) -> bool:
        return self.ratio <= 1

    @property
    def label(self) -> str:
        return f"{self.name!r}" + (f" at {self.shape}" if self.shape else "")


@dataclass(frozen=True)
class Comparison:
    """Every output at every shape checked. `ok` only for status "equivalent": a failing
    output makes it "NOT equivalent"; all outputs below VACUOUS_BELOW make it "vacuous"."""

    outputs: tuple[OutputComparison, ...]

    @property
    def vacuous(self) -> bool:
        return all(o.scale < VACUOUS_BELOW for o in self.outputs)

    @property
    def status(self) -> str:
        if not all(o.ok for o in self.outputs):
            return NOT_EQUIVALENT
        return VACUOUS if self.vacuous else EQUIVALENT

    @property
    def ok(self) -> bool:
        return self.status == EQUIVALENT

    @property
    def worst(self) -> OutputComparison | None:
        """The output closest to (or furthest past) its tolerance."""
        return max(self.outputs, key=lambda o: (o.ratio, o.max_abs), default=None)

    @property
    def worst_output(self) -> str:
        return self.worst.name if self.outputs else ""

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    @property
    def scale(self) -> float:
        return max((o.scale for o in self.outputs), default=0.0)

    @property
    def ratio(self) -> float:
        return self.worst.ratio if self.outputs else 0.0

    @property
    def shapes(self) -> int:
        return max(1, len({o.shape for o in self.outputs}))

    def summary(self) -> str:
        """One line: status, then the worst output's error, scale and tolerance."""
        w = self.worst
        if w is None:
            return f"{self.status}: the model has no outputs to compare"
        if w.shape_mismatch:
            return f"{self.status}: output {w.label} has a different shape in the pruned model"
        line = (f"{self.status}: max abs error {w.max_abs:.3g}, scale {w.scale:.3g}, "
                f"tolerance {w.tolerance:.3g} (output {w.label}")
        if w.nan:
            line += ", NaN"
        line += f"; {self.shapes} input shape{'s' if self.shapes > 1 else ''})"
        if self.status == VACUOUS:
            line += f": every output is below {VACUOUS_BELOW:g}, so the check proves nothing"
        return line

    @staticmethod
    def merge(comparisons) -> Comparison:
        return Comparison(tuple(o for c in comparisons for o in c.outputs))


def compare_output(name: str, got: np.ndarray, ref: np.ndarray, rtol: float = RTOL,
                   atol: float = ATOL, shape: str = "") -> OutputComparison:
    """Compare one output against its reference. Non-float outputs must match exactly."""
    got, ref = np.asarray(got), np.asarray(ref)
    if got.shape != ref.shape:
        return OutputComparison(name, math.inf, _scale(ref), 0.0, shape_mismatch=True, shape=shape)
    x, y = got.astype(np.float64), ref.astype(np.float64)
    scale = _scale(y)
    tolerance = rtol * scale + atol if np.issubdtype(ref.dtype, np.floating) else 0.0
    nan = bool(np.isnan(x).any() or np.isnan(y).any())
    # Equal infinities agree; an infinity against a finite value is an infinite error.
    with np.errstate(invalid="ignore"):
        diff = np.where(x == y, 0.0, np.abs(x - y))
    max_abs = float(np.nanmax(diff)) if diff.size and not np.isnan(diff).all() else 0.0
    return OutputComparison(name, max_abs, scale, tolerance, nan=nan, shape=shape)


def _scale(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)]) if values.size else values
    return float(finite.max()) if finite.size else 0.0


def compare_outputs(names: list[str], a: list[np.ndarray], b: list[np.ndarray],
                    rtol: float = RTOL, atol: float = ATOL, shape: str = "") -> Comparison:
    """Compare outputs `a` (the pruned model's) against `b` (the masked reference's)."""
    return Comparison(tuple(compare_output(n, x, y, rtol, atol, shape) for n, x, y in zip(names, a, b)))


def masked_reference(model, plan: PruningPlan, groups: GroupSet | None = None) -> LoadedModel:
    """The original with every member of every planned group multiplied by its 0/1 mask."""
    return mask_channels(as_loaded(model), plan, groups)


class NotEquivalent(AssertionError):
    """The check failed or was vacuous; `comparison` says which and by how much."""

    def __init__(self, message: str, comparison: Comparison | None = None):
        super().__init__(message)
        self.comparison = comparison


def feeds_for(model, shape: dict | None = None, batch: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    """Random feeds for every graph input; the inputs named in `shape` get those dimensions,
    the others their declared ones with symbolic dimensions set to `batch`."""
    loaded = as_loaded(model)
    feeds = random_inputs(loaded, batch=batch, seed=seed)
    declared = {vi.name: vi for vi in loaded.proto.graph.input if vi.name in feeds}
    rng = np.random.default_rng([seed, 1])
    for name, dims in (shape or {}).items():
        if name not in declared:
            raise ValueError(f"input shapes name {name!r}, which is not an input of the model "
                             f"(inputs: {', '.join(declared)})")
        dims = [int(d) for d in dims]
        _check_dims(name, dims, declared[name])
        dtype = helper.tensor_dtype_to_np_dtype(declared[name].type.tensor_type.elem_type)
        feeds[name] = random_array(rng, dims, dtype)
    return feeds


def _check_dims(name: str, dims: list[int], vi) -> None:
    # dim_value 0 or -1 is written by some exporters for a dynamic dimension
    fixed = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
             for d in vi.type.tensor_type.shape.dim]
    if len(fixed) != len(dims) or any(f is not None and f != d for f, d in zip(fixed, dims)):
        declared = ",".join("?" if f is None else str(f) for f in fixed)
        raise ValueError(f"input {name!r}: shape {dims} does not fit the declared [{declared}]")


def _shape_label(shape: dict | None) -> str:
    return " ".join(f"{k}:{','.join(map(str, v))}" for k, v in (shape or {}).items())


def check_equivalence(original, pruned, plan: PruningPlan, groups: GroupSet | None = None,
                      rtol: float = RTOL, atol: float = ATOL, batch: int = 2, seed: int = 0,
                      shapes: list[dict] | None = None) -> Comparison:
    """Run the masked original and the pruned model on the same random inputs and compare.

    `shapes`: input shapes to check at, e.g. [{"x": [1, 3, 64, 64]}, {"x": [2, 3, 96, 80]}]
    (fresh random inputs for each; every one must pass). By default one shape, symbolic
    dimensions set to `batch`."""
    original = as_loaded(original)
    groups = groups or analyze(original)
    ref_sess = session(masked_reference(original, plan, groups))
    got_sess = session(pruned)
    names = [o.name for o in ref_sess.get_outputs()]
    several = shapes is not None and len(shapes) > 1
    results = []
    for i, shape in enumerate(shapes or [None]):
        feeds = feeds_for(original, shape, batch=batch, seed=seed + i)
        label = _shape_label(shape) if several else ""
        results.append(compare_outputs(names, got_sess.run(names, feeds), ref_sess.run(names, feeds),
                                       rtol, atol, label))
    return Comparison.merge(results)


def assert_equivalent(original, pruned, plan: PruningPlan, groups: GroupSet | None = None,
                      rtol: float = RTOL, atol: float = ATOL, batch: int = 2, seed: int = 0,
                      shapes: list[dict] | None = None) -> float:
    """Raise NotEquivalent unless the invariant holds and the check is not vacuous;
    returns the largest absolute error."""
    result = check_equivalence(original, pruned, plan, groups, rtol, atol, batch, seed, shapes)
    if not result.ok:
        raise NotEquivalent(f"pruned model against the masked original: {result.summary()}", result)
    return result.max_abs
