"""Latency as a staircase in one channel count: detecting the steps, modelling one sweep.

Kernels work on tiles, so latency stays flat while the channel count moves within a tile
and jumps when it crosses a tile edge (ONNX Runtime's NCHWc convs here: 16 output
channels). Some counts also leave the fast path altogether (ORT: an input count that is
not a multiple of 4 drops to a slower generic conv). So a count axis is split into
*regimes* by an alignment `a` (counts that are multiples of `a`, and the rest), and
within each regime latency is a staircase of some width.

`detect_axis` finds the alignment and the step width of each regime from a window of
densely probed counts: an alignment whose multiples mostly differ from both neighbours
is taken first; otherwise the coarsest staircase that explains every probe within the
tolerance, confirmed by at least two jumps. A steady ramp comes out as a staircase whose
steps are as wide as the tolerance allows, so the error stays bounded either way.
`Staircase` models one regime of one sweep from sparse samples: the level of a step is
what was measured anywhere in it, and levels of unmeasured steps are interpolated
linearly in the step index (latency grows steadily from step to step).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

ALL, ALIGNED, MISALIGNED, NARROW = "all", "aligned", "misaligned", "narrow"


@dataclass(frozen=True)
class Steps:
    """Counts c with the same step index ceil((c - phase) / width) cost the same; the
    largest count of each step (c = k * width + phase) is its edge."""

    width: int
    phase: int = 0

    def index(self, count: int) -> int:
        return -((self.phase - count) // self.width)  # ceil((count - phase) / width)

    def to_json(self) -> dict:
        return {"width": self.width, "phase": self.phase}

    @classmethod
    def from_json(cls, data: dict) -> "Steps":
        return cls(int(data["width"]), int(data.get("phase", 0)))


@dataclass(frozen=True)
class AxisStructure:
    """How one count axis behaves: its alignment (1: no regimes), each regime's steps, and
    where a narrow regime ends: counts below `narrow` (0: none) run a kernel of their own
    whatever their alignment (ORT: a conv with fewer input channels than its NCHWc block
    reads the plain layout directly, and can cost more than a wider aligned count)."""

    align: int
    steps: dict[str, Steps]
    narrow: int = 0

    def regime(self, count: int) -> str:
        if count < self.narrow:
            return NARROW
        if self.align <= 1:
            return ALL
        return ALIGNED if count % self.align == 0 else MISALIGNED

    def regimes(self) -> list[str]:
        return list(self.steps)

    def to_json(self) -> dict:
        out = {"align": self.align, "steps": {r: s.to_json() for r, s in self.steps.items()}}
        if self.narrow:
            out["narrow"] = self.narrow
        return out

    @classmethod
    def from_json(cls, data: dict) -> "AxisStructure":
        return cls(int(data["align"]), {r: Steps.from_json(s) for r, s in data["steps"].items()},
                   int(data.get("narrow", 0)))


def tolerance(values, rel_tol: float, abs_tol: float) -> np.ndarray:
    return np.maximum(rel_tol * np.abs(np.asarray(values, dtype=float)), abs_tol)


# ------------------------------------------------------------------- detection
@dataclass(frozen=True)
class Fit:
    """The best description of one regime's probes: its steps, how many numbers that
    description takes (levels plus counts that stray from them), and whether it shows
    any structure at all (False: flat within tolerance across the window)."""

    steps: Steps
    cost: float
    resolved: bool


def fit_regime(counts, values, rel_tol: float = 0.03, abs_tol: float = 1e-4,
               min_jumps: int = 2) -> Fit | None:
    """The shortest description of probed counts: a staircase (one level per step, at
    least `min_jumps` significant jumps, one stray count in four at most) or a straight
    line (a ramp: two numbers); ties go to the wider steps."""
    counts = np.asarray(counts, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    order = np.argsort(counts)
    counts, values = counts[order], values[order]
    if len(counts) < 3:
        return None
    spacing = int(np.gcd.reduce(np.diff(counts))) or 1
    tol = tolerance(values, rel_tol, abs_tol)
    span = int(counts[-1] - counts[0]) + spacing
    best, best_key, best_cost = None, None, 0
    for width in range(2 * spacing, span // 2 + 1, spacing):
        for phase in range(int(counts[0]) % spacing, width, spacing):
            fit = _fits(counts, values, tol, width, phase)
            if fit is None or fit[0] < min_jumps:
                continue
            # Fewest levels plus strays (a short description of the data), then widest;
            # tile widths are powers of two (or three times one), so those get a head start
            # over an odd width that fits noisy data about as well.
            cost = fit[2] + fit[1]
            key = (cost - (1 if _tile_like(width // spacing) else 0), -width)
            if best_key is None or key < best_key:
                best, best_key, best_cost = Steps(width, phase % width), key, cost
    line_cost, rises = _line_cost(counts, values, tol)
    if best is None or line_cost < best_cost:
        return Fit(Steps(spacing), float(line_cost), rises)
    return Fit(best, float(best_cost), True)


def _tile_like(width: int) -> bool:
    odd = width
    while odd % 2 == 0:
        odd //= 2
    return odd in (1, 3)


def fit_steps(counts, values, rel_tol: float = 0.03, abs_tol: float = 1e-4,
              min_jumps: int = 2) -> Steps | None:
    """The steps of `fit_regime`, or None when the probes are flat (no step, no slope)."""
    fit = fit_regime(counts, values, rel_tol, abs_tol, min_jumps)
    return fit.steps if fit is not None and fit.resolved else None


def _line_cost(counts, values, tol) -> tuple[float, bool]:
    """Cost of describing the probes as a line (2 numbers plus every count off it), and
    whether the line climbs by more than the tolerance across the window."""
    slope, intercept = np.polyfit(counts.astype(float), values, 1)
    off = int(np.sum(np.abs(values - (slope * counts + intercept)) > tol))
    rise = abs(slope * (counts[-1] - counts[0]))
    return 2 + off, bool(rise > float(np.median(tol)))


def _fits(counts, values, tol, width: int, phase: int) -> tuple[int, int, int] | None:
    """(significant jumps between adjacent steps, stray counts, steps) if every step's
    samples agree with its level within tolerance, but for at most one stray in four;
    else None."""
    index = -((phase - counts) // width)
    levels, bands, strays = [], [], 0
    for k in np.unique(index):
        sel = index == k
        v, t = values[sel], tol[sel]
        level = float(np.median(v))
        # One count in four may stray: a timing disturbed by another process, or ORT's
        # first count past an edge, which runs a ragged block and costs a little more.
        off = int(np.sum(np.abs(v - level) > t))
        if off > len(v) // 4:
            return None
        strays += off
        levels.append(level)
        bands.append(float(t.min()))
    if len(levels) < 2:
        return None
    jumps = sum(abs(b - a) > max(ta, tb)
                for a, b, ta, tb in zip(levels, levels[1:], bands, bands[1:]))
    return jumps, strays, len(levels)


def detect_axis(counts, values, rel_tol: float = 0.03, abs_tol: float = 1e-4,
                alignments=(2, 4, 8)) -> tuple[AxisStructure, bool]:
    """The alignment and steps of an axis from densely probed counts: the hypothesis
    (no alignment, or aligned and misaligned counts as two regimes) whose regimes are
    described in the fewest numbers.

    Returns (structure, resolved): resolved is False when the window shows neither a step
    nor a slope (the caller may probe a wider window at a coarser stride)."""
    counts = np.asarray(counts, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    spacing = int(np.gcd.reduce(np.diff(np.sort(counts)))) if len(counts) > 1 else 1
    whole = fit_regime(counts, values, rel_tol, abs_tol)
    if whole is None:
        return AxisStructure(1, {ALL: Steps(spacing)}), False
    for align in sorted(alignments):
        if align > spacing and align % spacing == 0 and _apart(counts, values, align, spacing,
                                                                 rel_tol, abs_tol):
            fits = _regime_fits(counts, values, align, rel_tol, abs_tol)
            if fits is not None:
                return _aligned_structure(align, *fits), True
    best = (whole.cost, AxisStructure(1, {ALL: whole.steps}), whole.resolved)
    for align in alignments:
        if align % spacing or align <= spacing:
            continue
        aligned = counts % align == 0
        if aligned.sum() < 6 or (~aligned).sum() < 3:
            continue
        fits = _regime_fits(counts, values, align, rel_tol, abs_tol)
        if fits is None:
            continue
        fit_a, fit_m = fits
        cost = fit_a.cost + fit_m.cost + 3  # a second regime must pay for itself
        if cost < best[0]:
            best = (cost, _aligned_structure(align, fit_a, fit_m), fit_a.resolved or fit_m.resolved)
    return best[1], best[2]


def _regime_fits(counts, values, align: int, rel_tol: float, abs_tol: float) -> tuple[Fit, Fit] | None:
    """fit_regime of the multiples of `align` and of the other counts (None: too few of one)."""
    aligned = counts % align == 0
    fit_a = fit_regime(counts[aligned], values[aligned], rel_tol, abs_tol)
    fit_m = fit_regime(counts[~aligned], values[~aligned], rel_tol, abs_tol)
    return None if fit_a is None or fit_m is None else (fit_a, fit_m)


def _aligned_structure(align: int, fit_a: Fit, fit_m: Fit) -> AxisStructure:
    return AxisStructure(align, {ALIGNED: fit_a.steps, MISALIGNED: fit_m.steps})


def _apart(counts, values, align: int, spacing: int, rel_tol: float, abs_tol: float) -> bool:
    """Whether the multiples of `align` run another kernel than the counts around them:
    three in four of them (at least four) cost more than the tolerance less, or more,
    than both their neighbours, all in the same direction. A staircase edge differs from
    one neighbour only, and a disturbed timing is not systematic. This settles the
    alignment before the shortest description is sought, which a noisy misaligned
    regime can otherwise lose to one line through both (ORT's depthwise convs: aligned
    counts at 0.1 ms among misaligned ones at 1-3 ms wobbling by a third)."""
    at = {int(c): float(v) for c, v in zip(counts, values)}
    signs = []
    for c, v in at.items():
        if c % align or c - spacing not in at or c + spacing not in at:
            continue
        left, right = at[c - spacing], at[c + spacing]
        tol = float(tolerance([max(v, left, right)], rel_tol, abs_tol)[0])
        if v < min(left, right) - tol:
            signs.append(-1)
        elif v > max(left, right) + tol:
            signs.append(1)
        else:
            signs.append(0)
    if len(signs) < 4:
        return False
    for sign in (-1, 1):
        if 4 * sum(s == sign for s in signs) >= 3 * len(signs):
            return True
    return False


# ---------------------------------------------------------------------- model
class Staircase:
    """One regime of one sweep: levels per step, interpolated between measured steps."""

    def __init__(self, steps: Steps, samples: list[tuple[int, float]], monotone: bool = True):
        if not samples:
            raise ValueError("a staircase needs at least one sample")
        self.steps = steps
        by_step: dict[int, list[float]] = {}
        for count, value in samples:
            by_step.setdefault(steps.index(int(count)), []).append(float(value))
        keys = sorted(by_step)
        levels = np.array([float(np.median(by_step[k])) for k in keys])
        if monotone and len(levels) > 1:
            levels = isotonic(levels)
        self._keys = [float(k) for k in keys]  # measured step indices, ascending
        self._levels = [float(v) for v in levels]
        self._memo: dict[int, float] = {}

    def __call__(self, count: int) -> float:
        count = int(count)
        value = self._memo.get(count)
        if value is None:
            value = self._memo[count] = self.at_step(self.steps.index(count))
        return value

    def at_step(self, k: float) -> float:
        """The level at step index `k`: linear between measured steps, flat beyond them
        (np.interp at one point, in plain Python: the solver calls this per count)."""
        keys, levels = self._keys, self._levels
        if k <= keys[0]:
            return levels[0]
        if k >= keys[-1]:
            return levels[-1]
        i = bisect.bisect_right(keys, k) - 1
        t = (k - keys[i]) / (keys[i + 1] - keys[i])
        return levels[i] + t * (levels[i + 1] - levels[i])

    def measured_steps(self) -> set[int]:
        return {int(k) for k in self._keys}


def isotonic(values: np.ndarray) -> np.ndarray:
    """Non-decreasing least-squares fit (pool adjacent violators): within one regime more
    channels never cost less, so a dip between two steps is noise."""
    blocks: list[list[float]] = []  # [mean, weight]
    for v in values:
        blocks.append([float(v), 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2 = blocks.pop()
            m1, w1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2])
    out = []
    for mean, weight in blocks:
        out += [mean] * int(weight)
    return np.asarray(out)


# ------------------------------------------------------------------- sampling
def step_edges(steps: Steps, counts: list[int]) -> dict[int, int]:
    """{step index: its largest count} among the given reachable counts of one regime."""
    edges: dict[int, int] = {}
    for c in counts:
        k = steps.index(c)
        if c > edges.get(k, -1):
            edges[k] = c
    return edges


def refine_order(known: set[int], candidates: list[int], initial: int = 5) -> list[int]:
    """Step indices to measure first: both ends and evenly spaced ones (not yet known)."""
    if not candidates:
        return []
    picks = [candidates[0], candidates[-1]]
    if len(candidates) > 2:
        picks += [candidates[int(round(i * (len(candidates) - 1) / (initial - 1)))]
                  for i in range(1, initial - 1)]
    return [k for k in dict.fromkeys(picks) if k not in known]


def midpoints_to_check(model: Staircase, candidates: list[int]) -> list[tuple[int, int, int]]:
    """(left, middle, right) step indices between adjacent measured steps with unmeasured
    steps between them, largest gaps first."""
    measured = sorted(k for k in model.measured_steps() if k in set(candidates))
    cand_sorted = sorted(candidates)
    out = []
    for left, right in zip(measured, measured[1:]):
        inside = [k for k in cand_sorted if left < k < right]
        if inside:
            out.append((left, inside[len(inside) // 2], right))
    out.sort(key=lambda t: t[2] - t[0], reverse=True)
    return out
