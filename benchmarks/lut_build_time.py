"""LUT build time: how long `lut build` takes per model on ONNX Runtime CPU, 1 thread.

Targets (issue 4): resnet50 under 3 minutes, mobilenet_v2 and efficientnet_b0 under 2,
at batch 1 and 224x224. Prints, per model, the layers, the distinct entries they need
(identical layers share one), the timings taken, the seconds, and the limit.

    python benchmarks/lut_build_time.py            # the three models at 224x224
    python benchmarks/lut_build_time.py --quick    # smoke run: small models at 64x64
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from halp_graph.graph import analyze  # noqa: E402
from halp_graph.latency import get_target  # noqa: E402
from halp_graph.latency.sampler import QUICK_SAMPLING, SamplingConfig  # noqa: E402
from halp_graph.latency.timing import DEFAULT, MODEL, QUICK, QUICK_MODEL  # noqa: E402
from halp_graph.models import zoo  # noqa: E402
from halp_graph.pruning.lut_calibration import build_calibrated_lut  # noqa: E402

LIMITS = {"resnet50": 180.0, "mobilenet_v2": 120.0, "efficientnet_b0": 120.0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=None)
    p.add_argument("--target", default="cpu")
    p.add_argument("--resolution", type=int, default=None)
    p.add_argument("--save-dir", default="benchmarks/out/luts", help="keep the LUTs here")
    p.add_argument("--quick", action="store_true", help="smoke run: small models, quick sampling")
    args = p.parse_args()
    models = args.models or (["resnet18", "mobilenet_v2"] if args.quick else list(LIMITS))
    resolution = args.resolution or (64 if args.quick else 224)
    target = get_target(args.target)
    os.makedirs(args.save_dir, exist_ok=True)
    rows = []
    for name in models:
        path = zoo.export(name, "legacy", resolution=resolution)
        layers = len(analyze(path).layers)
        start = time.monotonic()
        lut = build_calibrated_lut(path, target, sampling=QUICK_SAMPLING if args.quick else SamplingConfig(),
                                   timing=QUICK if args.quick else DEFAULT,
                                   model_timing=QUICK_MODEL if args.quick else MODEL, progress=True,
                                   name=name)
        seconds = time.monotonic() - start
        out = os.path.join(args.save_dir, f"{name}_r{resolution}_{target.name}{'_quick' if args.quick else ''}.json")
        lut.save(out, force=True)
        s = lut.summary()
        rows.append((name, layers, s["entries"], lut.meta["timed_points"], seconds,
                     LIMITS.get(name), s["validation_median_error"]))
    print(f"\nLUT build on target {target.summary()}, {resolution}x{resolution}")
    print(f"{'model':<18} {'layers':>6} {'entries':>7} {'timings':>8} {'seconds':>8} {'limit':>6}  "
          f"{'check err':>9}")
    for name, layers, entries, timings, seconds, limit, err in rows:
        verdict = "" if limit is None else ("ok" if seconds <= limit else "OVER")
        check = f"{100 * err:.1f}%" if err is not None else "-"
        print(f"{name:<18} {layers:>6} {entries:>7} {timings:>8} {seconds:>8.1f} "
              f"{(f'{limit:.0f}' if limit else '-'):>6}  {check:>9} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
