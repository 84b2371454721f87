"""A layer's latency as a function of both channel counts, from a few measured sweeps.

A layer's cost depends on its input count `ci` and its output count `co` together (a conv
does ci*co work), so one staircase per axis is not enough. The model here is separable
in shape and bilinear in amount:

* a *column* sweep (ci varies, co at its reference) gives s(ci), the staircase along ci;
* a *row* sweep (co varies, ci at its reference) gives t(co), the staircase along co;
* a small grid of cross points (ci, co) at low, middle and reference counts of each axis
  gives the interaction; latency is interpolated bilinearly inside the grid in the warped
  coordinates (s(ci), t(co)) rather than in raw counts.

If latency is any bilinear function a + b*u(ci) + c*v(co) + d*u(ci)*v(co) of two
staircases u and v, which is what tiled kernels with a fixed overhead give, this
reproduces it exactly; on the sweeps themselves it returns the measured steps. Each axis
may have two regimes (aligned and misaligned counts, see staircase.py); each pair of
regimes has its own sweeps and grid, because a misaligned count runs another kernel. An
axis may also have a *narrow* regime (counts below a threshold, whatever their
alignment), priced the same way.

A depthwise layer has one free count (co = multiplier * ci): its surface is one sweep.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from .staircase import ALL, AxisStructure, Staircase, Steps


@dataclass(frozen=True)
class AxisDomain:
    """The counts a layer's axis can take: multiples of `quantum` below `hi` (counted
    down from hi), no fewer than `lo`; `free` is False when no prunable group feeds it."""

    lo: int
    hi: int
    quantum: int = 1
    free: bool = True

    def counts(self) -> list[int]:
        if not self.free:
            return [self.hi]
        return list(range(self.hi - ((self.hi - self.lo) // self.quantum) * self.quantum,
                          self.hi + 1, self.quantum))

    def contains(self, count: int) -> bool:
        return self.lo <= count <= self.hi and (self.hi - count) % self.quantum == 0

    def merge(self, other: "AxisDomain") -> "AxisDomain":
        return AxisDomain(min(self.lo, other.lo), self.hi, int(np.gcd(self.quantum, other.quantum)),
                          self.free or other.free)

    def to_json(self) -> dict:
        return {"lo": self.lo, "hi": self.hi, "quantum": self.quantum, "free": self.free}

    @classmethod
    def from_json(cls, data: dict) -> "AxisDomain":
        return cls(int(data["lo"]), int(data["hi"]), int(data.get("quantum", 1)),
                   bool(data.get("free", True)))


def regime_counts(domain: AxisDomain, structure: AxisStructure, regime: str) -> list[int]:
    return [c for c in domain.counts() if structure.regime(c) == regime]


@dataclass
class Surface:
    """Everything needed to price a layer at any channel pair; see the module docstring."""

    domain_in: AxisDomain
    domain_out: AxisDomain
    tied: bool = False
    multiplier: int = 1
    align_in: int = 1
    align_out: int = 1
    narrow_in: int = 0  # counts below run their own kernel (staircase.AxisStructure)
    narrow_out: int = 0
    steps_in: dict[str, dict[str, Steps]] = field(default_factory=dict)  # [out regime][in regime]
    steps_out: dict[str, dict[str, Steps]] = field(default_factory=dict)  # [in regime][out regime]
    refs_in: dict[str, int] = field(default_factory=dict)
    refs_out: dict[str, int] = field(default_factory=dict)
    grid_in: dict[str, list[int]] = field(default_factory=dict)
    grid_out: dict[str, list[int]] = field(default_factory=dict)
    points: dict[tuple[int, int], float] = field(default_factory=dict)

    def __post_init__(self):
        self._sweeps: dict = {}

    # ------------------------------------------------------------ regimes
    def regime_in(self, ci: int) -> str:
        return AxisStructure(self.align_in, {}, self.narrow_in).regime(ci)

    def regime_out(self, co: int) -> str:
        return AxisStructure(self.align_out, {}, self.narrow_out).regime(co)

    def in_structure(self, out_regime: str) -> AxisStructure:
        return AxisStructure(self.align_in, self.steps_in.get(out_regime, {}), self.narrow_in)

    def out_structure(self, in_regime: str) -> AxisStructure:
        return AxisStructure(self.align_out, self.steps_out.get(in_regime, {}), self.narrow_out)

    # ------------------------------------------------------------- sweeps
    def column(self, out_regime: str, in_regime: str) -> Staircase | None:
        """s(ci): the sweep along ci at the reference co of `out_regime`."""
        key = ("in", out_regime, in_regime)
        if key not in self._sweeps:
            co = self.refs_out.get(out_regime)
            steps = self.steps_in.get(out_regime, {}).get(in_regime, Steps(1))
            samples = [(ci, v) for (ci, c), v in self.points.items()
                       if c == co and self.regime_in(ci) == in_regime]
            if self.tied:
                samples = [(ci, v) for (ci, c), v in self.points.items()
                           if c == ci * self.multiplier and self.regime_in(ci) == in_regime]
            self._sweeps[key] = Staircase(steps, samples) if samples else None
        return self._sweeps[key]

    def row(self, in_regime: str, out_regime: str) -> Staircase | None:
        """t(co): the sweep along co at the reference ci of `in_regime`."""
        key = ("out", in_regime, out_regime)
        if key not in self._sweeps:
            ci = self.refs_in.get(in_regime)
            steps = self.steps_out.get(in_regime, {}).get(out_regime, Steps(1))
            samples = [(co, v) for (i, co), v in self.points.items()
                       if i == ci and self.regime_out(co) == out_regime]
            self._sweeps[key] = Staircase(steps, samples) if samples else None
        return self._sweeps[key]

    def invalidate(self) -> None:
        self._sweeps = {}

    # ---------------------------------------------------------- evaluation
    def __call__(self, ci: int, co: int) -> float:
        if ci <= 0 or co <= 0:
            return 0.0
        r = self._nearest_regime_in(ci)
        if self.tied:
            column = self.column(ALL, r)
            return column(ci) if column else self._nearest_point(ci, co)
        q = self._nearest_regime_out(co)
        column, row = self.column(q, r), self.row(r, q)
        if column is None or row is None:
            return self._nearest_point(ci, co)
        knots_in, knots_out, values = self._grid(r, q, column, row)
        if values is None:  # a grid point was never measured: fall back to rank one
            return column(ci) * row(co) / max(row(self.refs_out[q]), 1e-12)
        i, lam = _cell(ci, knots_in, column)
        j, mu = _cell(co, knots_out, row)
        i2, j2 = min(i + 1, len(knots_in) - 1), min(j + 1, len(knots_out) - 1)
        return float((1 - lam) * (1 - mu) * values[i][j] + lam * (1 - mu) * values[i2][j]
                     + (1 - lam) * mu * values[i][j2] + lam * mu * values[i2][j2])

    def table(self, ins, outs) -> np.ndarray:
        """[[self(ci, co) for co in outs] for ci in ins], the same numbers, evaluating
        each regime pair's sweeps once per count instead of once per pair (the solver
        prices every layer at every pair of its groups' candidate counts)."""
        ins, outs = [int(c) for c in ins], [int(c) for c in outs]
        out = np.zeros((len(ins), len(outs)))
        if self.tied:
            for a, ci in enumerate(ins):
                for b, co in enumerate(outs):
                    out[a, b] = self(ci, co)
            return out
        rows_of: dict[str, list[int]] = {}
        cols_of: dict[str, list[int]] = {}
        for a, ci in enumerate(ins):
            if ci > 0:
                rows_of.setdefault(self._nearest_regime_in(ci), []).append(a)
        for b, co in enumerate(outs):
            if co > 0:
                cols_of.setdefault(self._nearest_regime_out(co), []).append(b)
        for r, a_idx in rows_of.items():
            for q, b_idx in cols_of.items():
                block = self._block(r, q, [ins[a] for a in a_idx], [outs[b] for b in b_idx])
                out[np.ix_(a_idx, b_idx)] = block
        return out

    def _block(self, r: str, q: str, cis: list[int], cos: list[int]) -> np.ndarray:
        """`table` for counts all in input regime r and output regime q."""
        column, row = self.column(q, r), self.row(r, q)
        if column is None or row is None:
            return np.array([[self._nearest_point(ci, co) for co in cos] for ci in cis])
        knots_in, knots_out, values = self._grid(r, q, column, row)
        if values is None:
            return (np.array([column(ci) for ci in cis])[:, None] * np.array([row(co) for co in cos])[None, :]
                    / max(row(self.refs_out[q]), 1e-12))
        v = np.asarray(values, dtype=float)
        i, lam = (np.array(x) for x in zip(*(_cell(ci, knots_in, column) for ci in cis)))
        j, mu = (np.array(x) for x in zip(*(_cell(co, knots_out, row) for co in cos)))
        i2, j2 = np.minimum(i + 1, len(knots_in) - 1), np.minimum(j + 1, len(knots_out) - 1)
        lam, mu = lam[:, None], mu[None, :]
        i, i2, j, j2 = i[:, None], i2[:, None], j[None, :], j2[None, :]
        return ((1 - lam) * (1 - mu) * v[i, j] + lam * (1 - mu) * v[i2, j]
                + (1 - lam) * mu * v[i, j2] + lam * mu * v[i2, j2])

    def _grid(self, r: str, q: str, column: Staircase, row: Staircase):
        """(knots_in, knots_out, values) of one regime pair's interpolation grid, values
        None when a grid point was never measured (kept with the sweeps: the solver
        evaluates a surface tens of thousands of times)."""
        key = ("grid", r, q)
        if key not in self._sweeps:
            knots_in = self.grid_in.get(r) or [self.refs_in[r]]
            knots_out = self.grid_out.get(q) or [self.refs_out[q]]
            values = []
            for a in knots_in:
                line = []
                for b in knots_out:
                    if a == self.refs_in[r]:
                        line.append(row(b))
                    elif b == self.refs_out[q]:
                        line.append(column(a))
                    else:
                        line.append(self.points.get((a, b), math.nan))
                values.append(line)
            complete = not any(math.isnan(v) for line in values for v in line)
            self._sweeps[key] = (knots_in, knots_out, values if complete else None)
        return self._sweeps[key]

    def _nearest_regime_in(self, ci: int) -> str:
        r = self.regime_in(ci)
        return r if r in self.refs_in else next(iter(self.refs_in), r)

    def _nearest_regime_out(self, co: int) -> str:
        q = self.regime_out(co)
        return q if q in self.refs_out else next(iter(self.refs_out), q)

    def _nearest_point(self, ci: int, co: int) -> float:
        best = min(self.points, key=lambda p: abs(p[0] - ci) + abs(p[1] - co))
        return self.points[best]

    # ----------------------------------------------------------------- io
    def to_json(self) -> dict:
        return {
            "domain": {"in": self.domain_in.to_json(), "out": self.domain_out.to_json()},
            "tied": self.tied, "multiplier": self.multiplier,
            "align": {"in": self.align_in, "out": self.align_out},
            **({"narrow": {"in": self.narrow_in, "out": self.narrow_out}}
               if self.narrow_in or self.narrow_out else {}),
            "steps": {"in": {q: {r: s.to_json() for r, s in d.items()} for q, d in self.steps_in.items()},
                      "out": {r: {q: s.to_json() for q, s in d.items()} for r, d in self.steps_out.items()}},
            "refs": {"in": self.refs_in, "out": self.refs_out},
            "grid": {"in": self.grid_in, "out": self.grid_out},
        }

    @classmethod
    def from_json(cls, data: dict, points: dict[tuple[int, int], float]) -> "Surface":
        steps = data.get("steps", {})
        return cls(
            domain_in=AxisDomain.from_json(data["domain"]["in"]),
            domain_out=AxisDomain.from_json(data["domain"]["out"]),
            tied=bool(data.get("tied", False)), multiplier=int(data.get("multiplier", 1)),
            align_in=int(data["align"]["in"]), align_out=int(data["align"]["out"]),
            narrow_in=int(data.get("narrow", {}).get("in", 0)),
            narrow_out=int(data.get("narrow", {}).get("out", 0)),
            steps_in={q: {r: Steps.from_json(s) for r, s in d.items()} for q, d in steps.get("in", {}).items()},
            steps_out={r: {q: Steps.from_json(s) for q, s in d.items()} for r, d in steps.get("out", {}).items()},
            refs_in={k: int(v) for k, v in data["refs"]["in"].items()},
            refs_out={k: int(v) for k, v in data["refs"]["out"].items()},
            grid_in={k: [int(x) for x in v] for k, v in data.get("grid", {}).get("in", {}).items()},
            grid_out={k: [int(x) for x in v] for k, v in data.get("grid", {}).get("out", {}).items()},
            points=points)

    def edges_in(self, out_regime: str | None = None) -> list[int]:
        """Largest input count of every latency step (the counts worth keeping)."""
        return self._edges(self.domain_in, AxisStructure(
            self.align_in, self.steps_in.get(out_regime or next(iter(self.steps_in), ALL), {}),
            self.narrow_in))

    def edges_out(self, in_regime: str | None = None) -> list[int]:
        return self._edges(self.domain_out, AxisStructure(
            self.align_out, self.steps_out.get(in_regime or next(iter(self.steps_out), ALL), {}),
            self.narrow_out))

    @staticmethod
    def _edges(domain: AxisDomain, structure: AxisStructure) -> list[int]:
        edges = set()
        for regime, st in structure.steps.items():
            last: dict[int, int] = {}
            for c in regime_counts(domain, structure, regime):
                last[st.index(c)] = c
            edges |= set(last.values())
        return sorted(edges)


def _cell(count: int, knots: list[int], sweep: Staircase) -> tuple[int, float]:
    """The grid cell holding `count` and the position in it, measured in the sweep's
    latency (warped) rather than in raw counts."""
    if len(knots) == 1:
        return 0, 0.0
    i = bisect.bisect_right(knots, count) - 1
    i = min(max(i, 0), len(knots) - 2)
    a, b = knots[i], knots[i + 1]
    sa, sb, sc = sweep(a), sweep(b), sweep(count)
    if abs(sb - sa) > 1e-9 * max(abs(sa), abs(sb), 1e-12):
        t = (sc - sa) / (sb - sa)
    else:
        t = (count - a) / (b - a)
    return i, float(min(max(t, 0.0), 1.0))
