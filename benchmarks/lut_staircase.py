"""The staircase: one layer's latency at every output-channel count, with the LUT's steps.

Times the chosen layer (default: resnet50's layer3.1 conv2, a 3x3 conv 256->256 at
14x14, with its fused ReLU) at every output count with the input full, samples the same
layer the way `lut build` does, and draws both: the dense measurement as dots, the LUT's
model as a line, and the step edges it found as ticks. Prints the detected width, how
many timings the LUT needed against the dense sweep, and the LUT's error on the sweep.

    python benchmarks/lut_staircase.py
    python benchmarks/lut_staircase.py --quick     # resnet18 at 64x64, every 2nd count
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from halp_graph.graph import analyze  # noqa: E402
from halp_graph.latency import get_target  # noqa: E402
from halp_graph.latency.backends import open_backend  # noqa: E402
from halp_graph.latency.build import family_of  # noqa: E402
from halp_graph.latency.domains import layer_domains  # noqa: E402
from halp_graph.latency.sampler import LayerSampler, SamplingConfig  # noqa: E402
from halp_graph.latency.subgraph import layer_specs  # noqa: E402
from halp_graph.latency.timing import DEFAULT, QUICK  # noqa: E402
from halp_graph.models import zoo  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None)
    p.add_argument("--layer", default="/layer3/layer3.1/conv2/Conv")
    p.add_argument("--resolution", type=int, default=None)
    p.add_argument("--target", default="cpu")
    p.add_argument("--out", default="benchmarks/out/lut_staircase.png")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    name = args.model or ("resnet18" if args.quick else "resnet50")
    resolution = args.resolution or (64 if args.quick else 224)
    timing = QUICK if args.quick else DEFAULT
    target = get_target(args.target)
    groups = analyze(zoo.export(name, "legacy", resolution=resolution))
    layer = groups.layers_by_name.get(args.layer)
    if layer is None:
        raise SystemExit(f"{name} has no layer {args.layer!r}")
    spec = layer_specs(groups, batch=target.batch)[args.layer]
    backend = open_backend(target)
    din, dout = layer_domains(groups, layer)
    lut_timings = []

    def measure(ci: int, co: int) -> float:
        lut_timings.append((ci, co))
        return backend.time_layer(spec, ci, co, timing).median_ms

    surface = LayerSampler(din, dout, measure, SamplingConfig(validation_points=0),
                           family=family_of(spec), tied=spec.depthwise,
                           multiplier=spec.multiplier).run()
    ci = spec.full_in
    counts = list(range(1 if not args.quick else 2, spec.full_out + 1, 2 if args.quick else 1))
    dense = np.array([backend.time_layer(spec, ci, co, timing).median_ms for co in counts])
    model = np.array([surface(ci, co) for co in counts])
    errors = np.abs(model - dense) / dense
    steps = surface.steps_out.get(surface.regime_in(ci), {})
    main_steps = steps.get("all") or steps.get("aligned")
    edges = [c for c in surface.edges_out(surface.regime_in(ci))]
    print(f"{name} {args.layer}: {spec.describe()} {spec.full_in}->{spec.full_out}, target {target.summary()}")
    print(f"detected output step width {main_steps.width if main_steps else '?'}; "
          f"LUT timings for this layer: {len(lut_timings)} (the dense sweep below: {len(counts)})")
    print(f"LUT vs dense sweep: median error {100 * np.median(errors):.1f}%, "
          f"worst {100 * errors.max():.1f}%")
    print(f"{'co':>5} {'measured':>9} {'LUT':>9}")
    for co, m, s in zip(counts, dense, model):
        if co in edges or co == counts[0]:
            print(f"{co:>5} {m:>9.4f} {s:>9.4f}")
    _plot(counts, dense, model, edges, spec, name, args, target)
    print(f"plot: {args.out}")
    return 0


def _plot(counts, dense, model, edges, spec, name, args, target) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(counts, dense, ".", ms=3, color="tab:orange", label="measured, every count")
    ax.plot(counts, model, "-", lw=1.2, color="tab:blue", label="LUT model")
    top = float(max(dense.max(), model.max()))
    ax.vlines([c for c in edges if c in set(counts)], 0, top * 0.05, color="grey", lw=0.7,
              label="LUT step edges")
    ax.set_xlabel(f"output channels (input {spec.full_in})")
    ax.set_ylabel("latency (ms)")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{name} {args.layer}: {spec.describe()} — {target.name}", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
