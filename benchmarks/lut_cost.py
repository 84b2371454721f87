"""What a latency table costs, in inferences of the model it prices, and what it predicts.

For each model: build its LUT from nothing on ONNX Runtime CPU (1 thread, calibration
included), then, with `--second-shape`, the table for a second input shape on top of the
first (entries of another signature, step structures and shared pairs reused, as `prune`
does with several --input-shapes). Reported per build:

- seconds of wall clock and of this process's CPU time;
- the cost in dense inferences: CPU seconds / the dense model's median latency (thread
  clock, as the LUT times it). On an idle machine CPU and wall time agree; on a busy one
  the CPU time leaves out waiting for a core, so the figure does not depend on the load;
- timed pairs and calibration plans;
- fidelity: the prediction error on the ratio pruned/dense of `--plans` random plans
  (halp_graph.testing.random_plan, seeds 0..N-1, no emptied groups or single channels,
  as in latency_fidelity.py), each pruned model timed interleaved
  with the dense one (as benchmarks/latency_fidelity.py does): median and worst |error|;
  with `--aligned`, also on as many plans whose kept counts are multiples of 8 (ONNX
  Runtime's blocked layout on AVX2; what the solver's step edges mostly are), reported
  as `aligned_...`. Random counts are mostly misaligned, and a misaligned count changes
  how ORT lays out and fuses its neighbours (docs/latency.md), so the two differ.

Models: torchvision zoo names (legacy exporter, 224x224) and third-party files of
third_party.py (fixed to their first shape). It runs against whichever halp_graph is
importable, so the same script measures an older checkout for a before/after.

With `--save-luts DIR` the tables are kept there; with `--against DIR` the same measured
plans are also priced by the tables in DIR (built by another checkout with
`--save-luts`), so that two versions are judged on one set of measurements rather than
on two runs that a busy machine makes differ:

    python benchmarks/lut_cost.py                                   # 4 models, 10 plans
    python benchmarks/lut_cost.py --models resnet50 --plans 20 --second-shape
    HALP_ISOLATE=... python benchmarks/lut_cost.py --plans 0 --save-luts /tmp/before   # an older checkout
    python benchmarks/lut_cost.py --plans 10 --against /tmp/before
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from halp_graph.cost_model import predict  # noqa: E402
from halp_graph.graph import analyze, load_model  # noqa: E402
from halp_graph.latency import LatencyLUT, get_target, measure_interleaved  # noqa: E402
from halp_graph.models import zoo  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.plan import PruningPlan  # noqa: E402
from halp_graph.testing import random_plan  # noqa: E402

try:  # this checkout: calibration is a layer above the LUT
    from halp_graph.pruning.lut_calibration import build_calibrated_lut as build
except ImportError:  # older checkouts calibrated inside build_lut
    from halp_graph.latency import build_lut as build

MODELS = ["resnet50", "mobilenet_v2", "efficientnet_b0", "nudenet_320n"]
SECOND = {"nudenet_320n": (1, 3, 256, 384)}  # else 192x192


def model_file(name: str, shape: tuple | None, tmp: str) -> str:
    if name in zoo_names():
        return zoo.export(name, "legacy", resolution=224 if shape is None else shape[-1])
    import third_party
    from halp_graph.input_shapes import fix_input_shapes
    from halp_graph.graph import as_loaded
    entry = third_party.BY_NAME[name]
    path = third_party.fetch(entry)
    first = dict(entry.shapes) if shape is None else {next(iter(entry.shapes)): list(shape)}
    fixed = fix_input_shapes(as_loaded(path), {k: tuple(v) for k, v in first.items()})
    out = os.path.join(tmp, f"{name}_{'x'.join(map(str, next(iter(first.values()))))}.onnx")
    onnx.save(fixed.proto, out)
    return out


def zoo_names() -> set[str]:
    return set(zoo.classification_models())


def build_cost(path: str, target, existing=None) -> tuple:
    before = existing.meta.get("timed_points", 0) if existing is not None else 0
    wall, cpu = time.perf_counter(), time.process_time()
    lut = build(path, target, existing=existing)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    groups = analyze(load_model(path))
    record = lut.record_for(groups)
    calib = record.calibration or {}
    return lut, groups, {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "dense_ms": record.dense.median_ms,
                         "inferences": round(1000 * cpu / record.dense.median_ms),
                         "inferences_wall": round(1000 * wall / record.dense.median_ms),
                         "timings": lut.meta.get("timed_points", 0) - before, "calibration_plans": calib.get("plans"),
                         "calibration_inferences": calib.get("inferences")}


def aligned_plan(groups, seed: int, multiple: int = 8, p_touch: float = 0.7) -> PruningPlan:
    """A random plan keeping, in each touched group, a random multiple of `multiple`
    channels per block (groups narrower than two multiples are left alone)."""
    rng = np.random.default_rng(10_000 + seed)
    keep = {}
    for g in groups.prunable():
        per = g.size // g.blocks
        if rng.random() > p_touch or per < 2 * multiple or g.divisor > 1 and multiple % g.divisor:
            continue
        count = int(rng.integers(1, per // multiple)) * multiple
        idx = []
        for b in range(g.blocks):
            idx += (b * per + np.sort(rng.choice(per, size=count, replace=False))).tolist()
        keep[g.id] = sorted(int(i) for i in idx)
    return PruningPlan(keep)


def fidelity(path: str, luts: dict, groups, target, plans: int, rounds: int, aligned: bool = False) -> dict:
    """Median and worst |error| of each table in `luts` ({label: LatencyLUT}, "" for this
    run's) on the same measured plans, calibrated and at face value ("face_..."); random
    plans, or with `aligned` plans of aligned counts ("aligned_...")."""
    if plans <= 0:
        return {}
    model = load_model(path)
    costs = {label: lut.cost_model(groups) for label, lut in luts.items()}
    costs.update({f"{label}_face".lstrip("_"): lut.cost_model(groups, calibrated=False)
                  for label, lut in luts.items()})  # what the calibration changed
    errors = {label: [] for label in costs}
    for seed in range(plans):
        plan = (aligned_plan(groups, seed) if aligned
                else random_plan(groups, seed=seed, p_empty=0.0, p_single=0.0))  # as latency_fidelity.py
        dense_now, pruned_now = measure_interleaved([model, prune_channels(model, plan, groups)], target,
                                                    rounds=rounds)
        ratio = pruned_now.median_ms / dense_now.median_ms
        for label, cost in costs.items():
            predicted = predict(cost, groups, plan.kept_counts(groups))
            errors[label].append(predicted / (ratio * cost.dense_cost()) - 1)
    out = {}
    for label, values in errors.items():
        e = np.abs(values)
        prefix = ("aligned_" if aligned else "") + (f"{label}_" if label else "")
        out.update({f"{prefix}median_err": round(float(np.median(e)), 4),
                    f"{prefix}worst_err": round(float(e.max()), 4)})
    return out


def lut_name(name: str, shape) -> str:
    return f"{name}_{'first' if shape is None else 'x'.join(map(str, shape))}.lut.json"


def tables(lut, name: str, shape, args) -> dict:
    """This run's table, saved where --save-luts says, and the one of --against."""
    if args.save_luts:
        os.makedirs(args.save_luts, exist_ok=True)
        lut.save(os.path.join(args.save_luts, lut_name(name, shape)))
    out = {"": lut}
    if args.against:
        out["against"] = LatencyLUT.load(os.path.join(args.against, lut_name(name, shape)))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=MODELS)
    p.add_argument("--plans", type=int, default=10, help="random plans per model for the fidelity")
    p.add_argument("--rounds", type=int, default=12, help="interleaved rounds per plan")
    p.add_argument("--aligned", action="store_true", help="also as many plans of aligned counts")
    p.add_argument("--second-shape", action="store_true", help="also the table for a second input shape")
    p.add_argument("--json", default=None, help="write the rows here")
    p.add_argument("--save-luts", default=None, help="keep the tables in this directory")
    p.add_argument("--against", default=None,
                   help="also price the measured plans with the tables of this directory (--save-luts)")
    args = p.parse_args()
    target = get_target("cpu")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            path = model_file(name, None, tmp)
            lut, groups, row = build_cost(path, target)
            luts = tables(lut, name, None, args)
            row.update(fidelity(path, luts, groups, target, args.plans, args.rounds), model=name, shape="first")
            if args.aligned:
                row.update(fidelity(path, luts, groups, target, args.plans, args.rounds, aligned=True))
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.second_shape:
                shape = SECOND.get(name, (1, 3, 192, 192))
                path2 = model_file(name, shape, tmp)
                lut2, groups2, row2 = build_cost(path2, target, existing=lut)
                row2.update(fidelity(path2, tables(lut2, name, shape, args), groups2, target, args.plans,
                                     args.rounds), model=name, shape="x".join(map(str, shape)))
                rows.append(row2)
                print(json.dumps(row2), flush=True)
    cols = ["model", "shape", "dense_ms", "wall_s", "cpu_s", "inferences", "timings", "calibration_plans",
            "calibration_inferences", "median_err", "worst_err", "face_median_err"]
    if args.against:
        cols += ["against_median_err", "against_worst_err", "against_face_median_err"]
    if args.aligned:
        cols += ["aligned_median_err", "aligned_worst_err", "aligned_face_median_err"]
        if args.against:
            cols += ["aligned_against_median_err", "aligned_against_worst_err"]
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c)) for c in cols) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
