"""Showing a LUT to a person: a text summary, and latency-versus-channels plots.

The plot of an entry draws what was timed along its two sweeps (output channels with the
input full, input channels with the output full) as dots, the LUT's model of them as a
line, and the staircase edges it detected as ticks: the counts the solver will consider.
"""

from __future__ import annotations

from ..errors import TargetError
from .lut import LatencyLUT, LutEntry


def summary_text(lut: LatencyLUT) -> str:
    fp, meta = lut.fingerprint, lut.meta
    lines = [f"LUT {lut.path or ''}  ({'ANALYTIC ESTIMATE' if lut.is_estimate else 'measured'})",
             f"  target:   {lut.target.get('name')} ({fp.get('backend')}, {fp.get('precision')}, "
             f"batch {fp.get('batch')}, threads {fp.get('threads')}, clock {fp.get('clock')})",
             f"  device:   {fp.get('device')}",
             f"  versions: {', '.join(f'{k} {v}' for k, v in (fp.get('versions') or {}).items())}",
             f"  built:    {meta.get('created', '?')} in {meta.get('build_seconds', '?')} s, "
             f"{meta.get('timed_points', '?')} timings, statistic {lut.statistic}"]
    for record in lut.models.values():
        dense = f"{record.dense.median_ms:.3f} ms (min {record.dense.min_ms:.3f})" if record.dense else "?"
        lines.append(f"  model:    {record.name}: {len(record.layers)} layers, dense {dense}")
        if record.context:
            conversions = sum(record.context.get("conversions", {}).values())
            lines.append(f"            in context: {len(record.context.get('conversions', {}))} layout "
                         f"conversions ({conversions:.3f} ms), {len(record.context.get('nodes', {}))} kernels mapped")
        if record.calibration:
            c = record.calibration
            weights = ", ".join(f"{name} {w:.3g}" for name, w in zip(c["components"], c["weights"]))
            lines.append(f"            calibrated on {c['plans']} pruned copies: {weights}; error "
                         f"{100 * c['error_face_value']['median']:.1f}% -> {100 * c['error_fitted']['median']:.1f}% "
                         f"(worst {100 * c['error_face_value']['max']:.1f}% -> {100 * c['error_fitted']['max']:.1f}%)")
    s = lut.summary()
    if s["validation_points"]:
        lines.append(f"  check:    {s['validation_points']} random pairs re-timed: median error "
                     f"{100 * s['validation_median_error']:.1f}%, worst {100 * s['validation_max_error']:.1f}%")
    lines.append("")
    lines.append(f"  {'#':>3} {'layer kind':<34} {'full':>11} {'ms':>9} {'steps in':>12} "
                 f"{'steps out':>10} {'timed':>6} {'uses':>5}")
    for i, entry in enumerate(ordered(lut), 1):
        surface = entry.surface(lut.statistic)
        full_ms = surface(*entry.full) if not surface.tied else surface(entry.full[0], entry.full[1])
        lines.append(f"  {i:>3} {entry.describe[:34]:<34} {f'{entry.full[0]}->{entry.full[1]}':>11} "
                     f"{full_ms:>9.4f} {_steps(surface.align_in, surface.steps_in, surface.narrow_in):>12} "
                     f"{_steps(surface.align_out, surface.steps_out) if not surface.tied else 'tied':>10} "
                     f"{len(entry.points):>6} {len(entry.layers):>5}")
    return "\n".join(lines) + "\n"


def ordered(lut: LatencyLUT) -> list[LutEntry]:
    return sorted(lut.entries.values(), key=lambda e: (-e.full[0] * e.full[1], e.describe))


def _steps(align: int, steps: dict, narrow: int = 0) -> str:
    """The main regime's step width, the alignment when there is one and where a narrow
    regime ends when there is one ("16 a4 n16")."""
    widths = [s.width for per_other in steps.values() for r, s in per_other.items()
              if r in ("all", "aligned")]
    if not widths:
        return "-"
    text = str(max(set(widths), key=widths.count))
    return text + (f" a{align}" if align > 1 else "") + (f" n{narrow}" if narrow else "")


def select_entries(lut: LatencyLUT, names: list[str]) -> list[LutEntry]:
    table = ordered(lut)
    chosen = []
    for name in names:
        if name.startswith("#") and name[1:].isdigit():
            index = int(name[1:])
            if not 1 <= index <= len(table):
                raise TargetError(f"--plot {name}: the LUT has rows #1..#{len(table)}")
            chosen.append(table[index - 1])
            continue
        match = [e for e in table if name in e.layers or e.key.startswith(name)]
        if not match:
            raise TargetError(f"--plot {name}: no entry prices a layer of that name "
                              f"(use a layer name, an entry key, or #N from `lut show`)")
        chosen.append(match[0])
    return chosen


def plot_entries(lut: LatencyLUT, entries: list[LutEntry], path: str) -> None:
    import matplotlib  # lazy: matplotlib is optional (the bench extra); only --plot needs it
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: after choosing the Agg backend

    fig, axes = plt.subplots(len(entries), 2, figsize=(11, 3.4 * len(entries)), squeeze=False)
    for row, entry in zip(axes, entries):
        plot_sweep(lut, entry, "out", row[0])
        plot_sweep(lut, entry, "in", row[1])
    title = f"{lut.target.get('name')} ({lut.fingerprint.get('device')})"
    if lut.is_estimate:
        title += " — ANALYTIC ESTIMATE"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_sweep(lut: LatencyLUT, entry: LutEntry, axis: str, ax) -> None:
    """Latency along one sweep of `entry`: timed points, the model (one line per regime:
    aligned counts, and the rest), and the step edges of the main regime."""
    s = entry.surface(lut.statistic)
    full_in, full_out = entry.full
    if s.tied:
        axis = "in"
    if axis == "out":
        counts, align = s.domain_out.counts(), s.align_out
        pair = lambda c: (full_in, c)  # noqa: E731
        label = f"output channels (input {full_in})"
    else:
        counts, align = s.domain_in.counts(), s.align_in
        pair = (lambda c: (c, c * s.multiplier)) if s.tied else (lambda c: (c, full_out))  # noqa: E731
        label = "channels (depthwise)" if s.tied else f"input channels (output {full_out})"
    main = [c for c in counts if align <= 1 or c % align == 0]
    rest = [c for c in counts if align > 1 and c % align]
    ax.plot(main, [s(*pair(c)) for c in main], "-", lw=1.2, color="tab:blue",
            label="LUT model" + (f" (multiples of {align})" if align > 1 else ""))
    if rest:
        ax.plot(rest, [s(*pair(c)) for c in rest], ":", lw=0.8, color="tab:green",
                label="LUT model (other counts)")
    timed = sorted((p[0] if axis == "in" else p[1], v) for p, v in s.points.items()
                   if p == pair(p[0] if axis == "in" else p[1]))
    if timed:
        xs, ys = zip(*timed)
        ax.plot(xs, ys, ".", ms=4, color="tab:orange", label="timed")
    steps = (s.steps_in.get(s.regime_out(full_out), {}) if axis == "in" and not s.tied
             else s.steps_in.get("all", {}) if s.tied else s.steps_out.get(s.regime_in(full_in), {}))
    main_steps = steps.get("aligned") or steps.get("all")
    if main_steps is not None and main_steps.width > 1:
        edges = sorted({max(c for c in main if main_steps.index(c) == k)
                        for k in {main_steps.index(c) for c in main}})
        top = max(s(*pair(c)) for c in main)
        ax.vlines(edges, 0, top * 0.04, color="grey", lw=0.6,
                  label=f"step edges (every {main_steps.width})")
    ax.set_xlabel(label)
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{entry.describe}  [{', '.join(entry.layers[:1])}{'…' if len(entry.layers) > 1 else ''}]",
                 fontsize=8)
    ax.legend(fontsize=7, loc="upper left")
