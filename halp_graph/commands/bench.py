"""`bench MODEL.onnx --target T`: measure a model's latency on a target."""

from __future__ import annotations

import json
import warnings

from ..graph import load_model
from ..input_shapes import fix_input_shapes
from ..latency import measure_model
from ..latency.backends import open_backend
from ..latency.cli_args import add_target_args, target_from_args
from ..latency.timing import MODEL, QUICK_MODEL
from .common import add_input_shapes, note, shape_profiles


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="measure a model's latency on a target",
                       description="Time a whole model: warm-up, then rounds of runs until the "
                                   "median is stable; prints median and minimum. CPU targets "
                                   "use 1 intra-op thread unless --threads says otherwise.")
    p.add_argument("model", help="ONNX model file")
    add_target_args(p)
    p.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_input_shapes(p, several=True)
    p.set_defaults(func=run)


def run(args) -> int:
    target = target_from_args(args)
    model = load_model(args.model)
    profiles = shape_profiles(args, several=True)
    shaped = [(p, fix_input_shapes(model, p.shapes)) for p in profiles] or [(None, model)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend = open_backend(target)
    for w in caught:
        note(f"warning: {w.message}")
    try:
        timings = [(p, measure_model(m, target, QUICK_MODEL if args.quick else MODEL, backend=backend))
                   for p, m in shaped]
    finally:
        backend.close()
    kind = "estimate" if backend.estimate else "measured"
    if args.json:
        runs = [{"shapes": p.to_json() if p else None, **t.to_json()} for p, t in timings]
        out = {"model": args.model, "target": target.to_json(), "kind": kind,
               "fingerprint": backend.fingerprint(), **timings[0][1].to_json()}
        if profiles:
            out["profiles"] = runs
            out["weighted_median_ms"] = sum(p.weight * t.median_ms for p, t in timings)
        print(json.dumps(out))
        return 0
    for p, timing in timings:
        extra = "" if backend.estimate else f", min {timing.min_ms:.3f} ms over {timing.runs} runs"
        shape = f" at {p.label()} (weight {p.weight:.2f})" if p else ""
        print(f"{args.model}{shape}: median {timing.median_ms:.3f} ms{extra} "
              f"({kind}; {target.summary()}; clock {target.timing_clock})")
    if len(timings) > 1:
        print(f"weighted median {sum(p.weight * t.median_ms for p, t in timings):.3f} ms")
    return 0
