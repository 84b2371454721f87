"""Deciding which channel pairs to time for one layer, so a table costs minutes.

For a layer with free input and output counts the sampler:

1. times the full layer;
2. *probes* a window of consecutive counts at the top of each axis (output counts with
   the input full, then input counts with the output full) and detects the alignment and
   step width there (`staircase.detect_axis`); where no step shows, it probes again at a
   4x coarser stride over a 4x wider window (over aligned counts only, keeping the
   alignment, where the window found one);
   on the input axis it then checks a few candidate thresholds for a *narrow* regime at
   the low end: counts below it that run another kernel and cost more than counts above
   it (`_narrow`);
3. samples the *levels* of each regime's staircase along each sweep: both ends and a few
   steps in between, then bisects wherever a newly timed step is off the line through its
   neighbours by more than the tolerance (steps in between are then trusted to the line);
4. times a 3x3 grid of cross points per pair of regimes (`surface.Surface`);
5. optionally times a few random pairs to record how well the surface predicts them.

Step structure is a property of the backend's kernels for an op kind (op, conv kind,
kernel, stride), not of one layer, so a structure detected on one layer is reused by the
next layer of the same family after a two-point check that its top step is still flat.
Every timing goes through `measure(ci, co)`, which the caller caches by layer signature,
so identical layers and repeated pairs are timed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .staircase import (ALIGNED, ALL, NARROW, AxisStructure, Staircase, Steps, detect_axis, fit_regime,
                        fit_steps, midpoints_to_check, refine_order, step_edges, tolerance)
from .surface import AxisDomain, Surface, regime_counts


# The version of how entries are sampled and fitted, part of a table's fingerprint
# (build.measurement_fingerprint): a table of another version is not extended but built
# afresh, and prune's cache keeps one file per version.
# 2: alignment regimes settled before the shortest description (staircase._apart).
# 3: ORT CPU layout conversions scaled from profiled pairs.
# 4: ORT CPU pairs timed side by side from the profiler (backends/ort_packed.py).
# 5: the profiler's share of each kernel read in each ORT session (ort_profile.ProfilerShare).
# 6: join operands given a producer, so ORT CPU fuses the join as in a model (subgraph.py);
#    conversion rates not told by a packed session filled from the table (build.py).
SAMPLER_VERSION = 6


@dataclass(frozen=True)
class SamplingConfig:
    probe_points: int = 48
    rel_tol: float = 0.04  # step detection: real kernels wobble a few % inside a step
    refine_tol: float = 0.02  # level sampling: bisect where the line misses by more
    abs_tol: float = 1e-3  # ms
    initial_levels: int = 5
    max_levels: int = 12
    grid: bool = True
    validation_points: int = 2
    share_structure: bool = True
    seed: int = 0
    narrow_candidates: tuple[int, ...] = (4, 8, 16, 32, 64)  # where a narrow regime may end

    def to_json(self) -> dict:
        return dict(self.__dict__)


QUICK_SAMPLING = SamplingConfig(probe_points=36, initial_levels=3, max_levels=4, validation_points=0)


@dataclass(frozen=True)
class Sweep:
    """Counts along one axis with the other axis held: `pair(count)` is the (ci, co) timed."""

    axis: str  # "in", "out" or "tied"
    fixed: int = 0  # the other axis's count (the multiplier for "tied")

    def pair(self, count: int) -> tuple[int, int]:
        if self.axis == "in":
            return count, self.fixed
        if self.axis == "out":
            return self.fixed, count
        return count, count * self.fixed


class LayerSampler:
    """Samples one layer's surface through `measure(ci, co) -> ms`."""

    def __init__(self, domain_in: AxisDomain, domain_out: AxisDomain,
                 measure: Callable[[int, int], float], config: SamplingConfig = SamplingConfig(),
                 family: str = "", structures: dict | None = None, tied: bool = False,
                 multiplier: int = 1):
        self.config = config
        self.measure_fn = measure
        self.family = family
        self.structures = structures if structures is not None else {}
        self.surface = Surface(domain_in, domain_out, tied=tied, multiplier=multiplier)
        self.validation: list[tuple[int, int, float, float]] = []

    @property
    def points(self) -> dict[tuple[int, int], float]:
        return self.surface.points

    def measure(self, ci: int, co: int) -> float:
        if (ci, co) not in self.points:
            self.points[(ci, co)] = float(self.measure_fn(ci, co))
            self.surface.invalidate()
        return self.points[(ci, co)]

    def time(self, sweep: Sweep, count: int) -> float:
        return self.measure(*sweep.pair(count))

    def _time_all(self, sweep: Sweep, counts: list[int]) -> list[float]:
        """`counts` along `sweep`, handed to the timer together first."""
        self._prefetch([sweep.pair(c) for c in counts])
        return [self.time(sweep, c) for c in counts]

    def _prefetch(self, pairs) -> None:
        """Hand the timer the pairs about to be asked for, where it can time several at
        once (`measure.prefetch`, which build.py's timer has); what is then asked for is
        decided exactly as without it."""
        fetch = getattr(self.measure_fn, "prefetch", None)
        if fetch is not None:
            fetch([pair for pair in pairs if pair not in self.points])

    def _tol(self, value: float, rel: float | None = None) -> float:
        rel = self.config.rel_tol if rel is None else rel
        return float(tolerance([value], rel, self.config.abs_tol)[0])

    # ---------------------------------------------------------------- run
    def run(self) -> Surface:
        s = self.surface
        din, dout = s.domain_in, s.domain_out
        if s.tied:
            return self._run_tied()
        self._prefetch([(din.hi, dout.hi)] + self._first_asks(din, dout))
        self.measure(din.hi, dout.hi)
        fixed = AxisStructure(1, {ALL: Steps(1)})
        row = self._structure("out", "primary", dout, Sweep("out", din.hi)) if dout.free else fixed
        col = self._structure("in", "primary", din, Sweep("in", dout.hi)) if din.free else fixed
        s.align_in, s.align_out = col.align, row.align
        s.narrow_in, s.narrow_out = col.narrow, row.narrow
        s.refs_in, s.refs_out = _refs(din, col), _refs(dout, row)
        r0, q0 = s.regime_in(din.hi), s.regime_out(dout.hi)
        s.steps_out[r0] = dict(row.steps)
        s.steps_in[q0] = dict(col.steps)
        for r, ci in s.refs_in.items():  # rows at the other input regimes
            if r not in s.steps_out:
                other = (self._structure("out", f"in:{r}", dout, Sweep("out", ci), align=row.align,
                                         narrow=row.narrow) if dout.free else fixed)
                s.steps_out[r] = dict(other.steps)
        for q, co in s.refs_out.items():  # columns at the other output regimes
            if q not in s.steps_in:
                other = (self._structure("in", f"out:{q}", din, Sweep("in", co), align=col.align,
                                         narrow=col.narrow) if din.free else fixed)
                s.steps_in[q] = dict(other.steps)
        for r, ci in s.refs_in.items():
            for q in s.refs_out:
                self._sample_levels(regime_counts(dout, s.out_structure(r), q),
                                    s.steps_out[r].get(q, Steps(1)), Sweep("out", ci))
        for q, co in s.refs_out.items():
            for r in s.refs_in:
                self._sample_levels(regime_counts(din, s.in_structure(q), r),
                                    s.steps_in[q].get(r, Steps(1)), Sweep("in", co))
        if self.config.grid:
            self._grid()
        self._validate()
        return s

    def _run_tied(self) -> Surface:
        s, din = self.surface, self.surface.domain_in
        sweep = Sweep("tied", s.multiplier)
        self.time(sweep, din.hi)
        axis = (self._structure("tied", "primary", din, sweep) if din.free
                else AxisStructure(1, {ALL: Steps(1)}))
        s.align_in, s.align_out = axis.align, 1
        s.refs_in = _refs(din, axis)
        s.refs_out = {ALL: s.domain_out.hi}
        s.steps_in[ALL] = dict(axis.steps)
        for r in s.refs_in:
            self._sample_levels(regime_counts(din, axis, r), axis.steps[r], sweep)
        self._validate()
        return s

    # ---------------------------------------------------------- structure
    def _structure(self, axis: str, context: str, domain: AxisDomain, sweep: Sweep,
                   align: int | None = None, narrow: int = 0) -> AxisStructure:
        """The axis's structure along one sweep: reused from the family when its top step
        checks out here, else probed. An input axis probed afresh is also checked for a
        narrow regime at its low end (`_narrow`)."""
        key = (self.family, axis, context)
        cached = self.structures.get(key) if self.config.share_structure else None
        if cached is not None and (align is None or (cached.align, cached.narrow) == (align, narrow)) \
                and self._still_flat(cached, domain, sweep):
            structure = cached
        else:
            structure = self._probe(domain, sweep, align, narrow)
            if self.config.share_structure:
                self.structures[key] = structure
        if axis == "in" and align is None:  # per layer: its domain decides what can be seen
            threshold = self._narrow(domain, sweep, structure)
            if threshold:
                if structure is not cached and domain.counts()[-self.config.probe_points:][0] < threshold:
                    # the probe saw narrow counts: detect the rest of the axis without them
                    above = AxisDomain(next(c for c in domain.counts() if c >= threshold),
                                       domain.hi, domain.quantum)
                    refit = self._probe(above, sweep, None)
                    if refit.align <= 1 < structure.align:  # too few counts left to see it
                        refit = self._probe(above, sweep, structure.align)
                    structure = refit
                    if self.config.share_structure:
                        self.structures[key] = structure
                steps = {**structure.steps, NARROW: Steps(domain.quantum, domain.hi % domain.quantum)}
                structure = AxisStructure(structure.align, steps, threshold)
        return structure

    def _first_asks(self, din: AxisDomain, dout: AxisDomain) -> list[tuple[int, int]]:
        """The pairs the primary sweeps ask for first, whatever they measure: the flat
        checks of the family's structures and the input axis's narrow candidates; handed
        to the timer with the full pair, in one session rather than four."""
        pairs = []
        for axis, domain, sweep in (("out", dout, Sweep("out", din.hi)), ("in", din, Sweep("in", dout.hi))):
            if not domain.free:
                continue
            cached = self.structures.get((self.family, axis, "primary"))
            if cached is not None and self.config.share_structure:
                pairs += [sweep.pair(c) for c in _flat_check(cached, domain)]
            if axis == "in":
                pairs += [sweep.pair(c) for _, above, below in self._narrow_candidates(domain)
                          for c in (above, *below)]
        return pairs

    def _still_flat(self, structure: AxisStructure, domain: AxisDomain, sweep: Sweep) -> bool:
        if structure.steps.get(structure.regime(domain.hi)) is None:
            return False
        counts = _flat_check(structure, domain)
        if not counts:
            return True
        top, low = self._time_all(sweep, counts)
        return abs(top - low) <= 2 * self._tol(top)

    def _narrow(self, domain: AxisDomain, sweep: Sweep, structure: AxisStructure) -> int:
        """Where a narrow regime at the low end of the axis ends (0: none): a candidate
        threshold t (SamplingConfig.narrow_candidates) ends one when the counts below it
        break the structure found above it, by twice the tolerance, in either way:

        * both the count just below t and half of t cost more than t itself: within one
          kernel more channels never cost less (ORT's 1x1 NCHWc convs with fewer input
          channels than a block read the plain layout, at up to twice the cost);
        * half of t costs less than t although the staircase puts both on one step
          (ORT's 3x3 convs below a block: linear in the count, no step).

        A drop from the count just below t alone is an alignment effect, not a narrow
        regime. Each candidate costs up to three timings, at low counts where timings
        are cheap; the largest threshold found wins. A narrow regime found where there is
        none costs only a few more timings: its counts are then sampled like any regime."""
        found = 0
        candidates = self._narrow_candidates(domain)
        self._prefetch([sweep.pair(c) for _, above, below in candidates for c in (above, *below)])
        for t, above, below in candidates:
            top = self.time(sweep, above)
            tol = 2 * self._tol(top)
            if all(self.time(sweep, b) > top + tol for b in below):
                found = t
                continue
            half = below[1]
            regime = structure.regime(half)
            steps = structure.steps.get(regime)
            if steps is not None and regime == structure.regime(above) \
                    and steps.index(half) == steps.index(above) and self.time(sweep, half) < top - tol:
                found = t
        return found

    def _narrow_candidates(self, domain: AxisDomain) -> list[tuple[int, int, list[int]]]:
        """(t, the count at or above t, [the counts at t - 1 and t // 2]) for each
        candidate threshold with counts close enough to it on both sides."""
        counts = domain.counts()
        candidates = []
        for t in self.config.narrow_candidates:
            if not counts[0] < t <= counts[-1]:
                continue
            above = next(c for c in counts if c >= t)
            below = [max((c for c in counts if c <= b), default=0) for b in (t - 1, t // 2)]
            if min(below) < t // 4 or above - t > t // 4:
                continue  # no counts close enough to t on one side
            candidates.append((t, above, below))
        return candidates

    def _probe(self, domain: AxisDomain, sweep: Sweep, align: int | None,
               narrow: int = 0) -> AxisStructure:
        """Probe consecutive counts at the top of the axis, and low on it where a step is
        a larger share of the latency; where neither shows a step, widen 4x at a 4x
        stride until one does or the window covers the axis."""
        counts = domain.counts()
        n = self.config.probe_points
        windows = [counts[-n:]]
        if len(counts) > 3 * n:
            start = next(i for i, c in enumerate(counts) if c >= n)
            windows.append(counts[start:start + n])
        best, best_score = None, -1.0
        for window in windows:
            values = self._time_all(sweep, window)
            if align is not None:
                structure, resolved = _structure_for_align(window, values, align, self.config,
                                                           narrow, domain), True
            else:
                structure, resolved = detect_axis(window, values, self.config.rel_tol,
                                                  self.config.abs_tol)
            score = _resolution(structure, domain.quantum) if resolved else 0.0
            if score > best_score:
                best, best_score = structure, score
            if score > 1:
                return structure
        if align is None and best is not None and best.align > 1:
            return self._widen_aligned(counts, sweep, best, domain.quantum)
        stride = 4
        descending = counts[::-1]
        while align is None and len(descending[::stride]) >= 3 and stride <= len(counts) // 3:
            window = descending[::stride][:n][::-1]
            values = self._time_all(sweep, window)
            structure, resolved = detect_axis(window, values, self.config.rel_tol,
                                              self.config.abs_tol)
            if resolved and _resolution(structure, domain.quantum) > 1:
                return structure
            if len(window) >= len(descending[::stride]):
                break
            stride *= 4
        return best

    def _widen_aligned(self, counts: list[int], sweep: Sweep, dense: AxisStructure,
                       quantum: int) -> AxisStructure:
        """The dense window found an alignment but no step among its aligned counts (too
        few of them to show one): widen over aligned counts only, 4x at a time, keeping
        the alignment and the misaligned regime the dense window found. (A wide window
        at a coarse stride holds aligned counts only, and would otherwise be read as an
        axis without regimes, pricing every misaligned count at the aligned kernel.)"""
        align = dense.align
        aligned = [c for c in counts[::-1] if c % align == 0]
        n = self.config.probe_points
        stride = 1
        while len(aligned[::stride]) >= 3:
            window = aligned[::stride][:n][::-1]
            values = self._time_all(sweep, window)
            fit = fit_regime(window, values, self.config.rel_tol, self.config.abs_tol)
            if fit is not None and fit.resolved:
                structure = AxisStructure(align, {**dense.steps, ALIGNED: fit.steps})
                if _resolution(structure, quantum) > 1:
                    return structure
            if len(window) >= len(aligned[::stride]):
                break
            stride *= 4
        return dense

    # ------------------------------------------------------------- levels
    def _on_sweep(self, sweep: Sweep, counts: list[int]) -> list[tuple[int, float]]:
        return [(c, self.points[sweep.pair(c)]) for c in counts if sweep.pair(c) in self.points]

    def _sample_levels(self, counts: list[int], steps: Steps, sweep: Sweep) -> None:
        """Time both ends and a few steps between, then bisect where the line through two
        timed steps misses the step between them by more than the tolerance."""
        if not counts:
            return
        edges = step_edges(steps, counts)
        ks = sorted(edges)
        known = {steps.index(c) for c, _ in self._on_sweep(sweep, counts)}
        budget = self.config.max_levels
        initial = refine_order(known, ks, self.config.initial_levels)
        self._time_all(sweep, [edges[k] for k in initial])
        budget -= len(initial)
        pending = midpoints_to_check(Staircase(steps, self._on_sweep(sweep, counts)), ks)
        while pending and budget > 0:
            self._prefetch([sweep.pair(edges[mid]) for mid in _lookahead(pending, ks, budget)])
            left, mid, right = pending.pop(0)
            model = Staircase(steps, self._on_sweep(sweep, counts))
            if mid in model.measured_steps():
                continue
            predicted = model.at_step(mid)
            value = self.time(sweep, edges[mid])
            budget -= 1
            if abs(value - predicted) > self._tol(value, self.config.refine_tol):
                for lo, hi in ((left, mid), (mid, right)):
                    inside = [k for k in ks if lo < k < hi]
                    if inside:
                        pending.append((lo, inside[len(inside) // 2], hi))
                pending.sort(key=lambda t: t[2] - t[0], reverse=True)

    # --------------------------------------------------------------- grid
    def _grid(self) -> None:
        s = self.surface
        for r, ref in s.refs_in.items():
            counts = (regime_counts(s.domain_in, AxisStructure(s.align_in, {}, s.narrow_in), r)
                      if s.domain_in.free else [ref])
            s.grid_in[r] = _knots(counts, ref)
        for q, ref in s.refs_out.items():
            counts = (regime_counts(s.domain_out, AxisStructure(s.align_out, {}, s.narrow_out), q)
                      if s.domain_out.free else [ref])
            s.grid_out[q] = _knots(counts, ref)
        s.invalidate()  # the surface keeps its interpolation grids with its sweeps
        cross = [(a, b) for r, knots_in in s.grid_in.items() for q, knots_out in s.grid_out.items()
                 for a in knots_in for b in knots_out if a != s.refs_in[r] and b != s.refs_out[q]]
        self._prefetch(cross)
        for a, b in cross:
            self.measure(a, b)

    # --------------------------------------------------------- validation
    def _validate(self) -> None:
        s = self.surface
        n = self.config.validation_points
        if n <= 0:
            return
        rng = np.random.default_rng(self.config.seed)
        ins, outs = s.domain_in.counts(), s.domain_out.counts()
        drawn = []
        for _ in range(n):
            ci = int(rng.choice(ins))
            drawn.append((ci, ci * s.multiplier if s.tied else int(rng.choice(outs))))
        self._prefetch(drawn)
        for ci, co in drawn:
            if (ci, co) in self.points:
                continue
            predicted = s(ci, co)
            self.validation.append((ci, co, self.measure(ci, co), predicted))


def _flat_check(structure: AxisStructure, domain: AxisDomain) -> list[int]:
    """The top and bottom counts of the structure's top step on `domain`, which a
    reused structure checks still cost the same ([] where the step holds one count)."""
    regime = structure.regime(domain.hi)
    steps = structure.steps.get(regime)
    if steps is None:
        return []
    same = [c for c in regime_counts(domain, structure, regime) if steps.index(c) == steps.index(domain.hi)]
    return [same[-1], same[0]] if len(same) >= 2 else []


def _lookahead(pending: list[tuple[int, int, int]], ks: list[int], budget: int) -> list[int]:
    """The steps a bisection may time next: the pending midpoints, then the midpoints
    each would add if it missed the line, at most `budget` in all. Timed in one session
    with the pending ones, a miss costs no session of its own; on a small layer a session
    costs about the same for one pair as for a dozen."""
    mids = [mid for _, mid, _ in pending]
    for left, mid, right in pending:
        for lo, hi in ((left, mid), (mid, right)):
            inside = [k for k in ks if lo < k < hi]
            if inside:
                mids.append(inside[len(inside) // 2])
    return list(dict.fromkeys(mids))[:budget]


def _refs(domain: AxisDomain, structure: AxisStructure) -> dict[str, int]:
    refs = {}
    for regime in structure.regimes():
        counts = regime_counts(domain, structure, regime)
        if counts:
            refs[regime] = counts[-1]
    return refs


def _knots(counts: list[int], ref: int) -> list[int]:
    """Low, middle and reference counts of a regime (fewer when it has fewer counts)."""
    counts = [c for c in counts if c <= ref]
    if not counts:
        return [ref]
    lo = counts[0]
    mid = min(counts, key=lambda c: abs(c - (lo + ref) / 2))
    return sorted(set([lo, mid, ref]))


def _structure_for_align(counts, values, align: int, config: SamplingConfig, narrow: int = 0,
                         domain: AxisDomain | None = None) -> AxisStructure:
    """Steps of each regime of an axis whose alignment (and narrow regime) is known."""
    counts = np.asarray(counts)
    values = np.asarray(values, dtype=float)
    extra = {}
    if narrow:
        quantum, hi = (domain.quantum, domain.hi) if domain is not None else (1, 0)
        extra = {NARROW: Steps(quantum, hi % quantum)}
        keep = counts >= narrow
        counts, values = counts[keep], values[keep]
    structure = _fit_for_align(counts, values, align, config)
    return AxisStructure(structure.align, {**structure.steps, **extra}, narrow)


def _fit_for_align(counts, values, align: int, config: SamplingConfig) -> AxisStructure:
    if align <= 1:
        steps = fit_steps(counts, values, config.rel_tol, config.abs_tol) if len(counts) else None
        return AxisStructure(1, {ALL: steps or Steps(1)})
    aligned = counts % align == 0
    out = {}
    for regime, sel in (("aligned", aligned), ("misaligned", ~aligned)):
        if sel.sum() >= 3:
            out[regime] = fit_steps(counts[sel], values[sel], config.rel_tol, config.abs_tol) or Steps(1)
        elif sel.any():
            out[regime] = Steps(1)
    return AxisStructure(align, out)


def _resolution(structure: AxisStructure, quantum: int) -> float:
    """How much structure a detection found: the main regime's step width in units of
    the spacing of its counts (1 means a plain line, no steps seen)."""
    regime = "aligned" if structure.align > 1 else ALL
    steps = structure.steps.get(regime)
    if steps is None:
        return 0.0
    spacing = max(structure.align, quantum)
    return steps.width / spacing
