"""How far a scaled layout conversion is from a profiled one (ORT CPU, 1 thread).

The ONNX Runtime backend profiles a layer's layout conversions on some pairs and scales
them to the others (halp_graph/latency/backends/ort_layout.py). For a few random layers
per model this profiles every pair of a sweep (24 output counts below the full one, 12
input counts at a stride of 3; depthwise layers along their one count), feeds the
profiles (8 runs, as the backend takes them) to an estimator as the backend does, and
for every pair the estimator would have scaled compares the scaled figure with a
reference profile of that pair (32 runs, so that the reference's own scatter is small
beside the error measured). Reported: the
difference as a share of the layer's kernel time (the profiled kernels of that pair),
median, 90th percentile and worst, over the scaled pairs whose profile shows
conversions (misaligned counts run plain-layout kernels with none, where both figures
are zero), and the share of pairs scaled.

    python benchmarks/layout_estimates.py                      # resnet50, mobilenet_v2
    python benchmarks/layout_estimates.py --models efficientnet_b0 --layers 10
"""

from __future__ import annotations

import argparse

import numpy as np

from halp_graph.graph import analyze, load_model
from halp_graph.latency import get_target
from halp_graph.latency.backends import open_backend
from halp_graph.latency.backends.ort_layout import LayoutEstimates
from halp_graph.latency.backends.ort_profile import kernel_times, layout_ms
from halp_graph.latency.subgraph import layer_specs
from halp_graph.models import zoo


def sweep(spec) -> list[tuple[int, int]]:
    if spec.depthwise:
        return [(c, c * spec.multiplier) for c in range(spec.full_in, max(spec.full_in - 36, 0), -1)]
    pairs = [(spec.full_in, co) for co in range(spec.full_out, max(spec.full_out - 24, 0), -1)]
    return pairs + [(ci, spec.full_out) for ci in range(spec.full_in - 3, max(spec.full_in - 37, 0), -3)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet50,mobilenet_v2")
    p.add_argument("--layers", type=int, default=6, help="random layers per model")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    backend = open_backend(get_target("cpu"))
    inflation = backend.profiler_inflation_ms()
    for name in args.models.split(","):
        specs = layer_specs(analyze(load_model(zoo.export(name, "legacy", resolution=224))), batch=1)
        names = sorted(n for n, s in specs.items() if s.full_out > 16)
        rng = np.random.default_rng(args.seed)
        errors, scaled, total = [], 0, 0
        for layer in rng.choice(names, min(args.layers, len(names)), replace=False):
            spec, est = specs[layer], LayoutEstimates()
            for ci, co in sweep(spec):
                model, feeds = spec.to_onnx(ci, co).SerializeToString(), spec.feeds(ci, co)
                times = kernel_times(backend._ort, backend.session, model, feeds, inflation_ms=inflation)
                guess = est.estimate(spec.signature_key(), ci, co)
                total += 1
                if guess is None:
                    est.record(spec.signature_key(), ci, co, times)
                else:
                    scaled += 1
                    reference = kernel_times(backend._ort, backend.session, model, feeds,
                                             runs=32, skip=4, inflation_ms=inflation)
                    profiled = layout_ms(reference)
                    if profiled > 0:
                        errors.append(abs(guess - profiled) / max(sum(reference.values()), 1e-9))
        e = np.asarray(errors)
        print(f"{name}: {scaled} of {total} pairs scaled; where conversions run ({len(e)}), "
              f"|scaled - profiled| / kernel time: "
              f"median {100 * np.median(e):.2f}%, p90 {100 * np.percentile(e, 90):.2f}%, "
              f"worst {100 * e.max():.2f}%", flush=True)


if __name__ == "__main__":
    main()
