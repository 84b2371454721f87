"""`bench MODEL.onnx --target T`: measure a model's latency on a target."""

from __future__ import annotations

import json
import warnings

from .common import note


def add_parser(sub) -> None:
    from ..latency.cli_args import add_target_args
    p = sub.add_parser("bench", help="measure a model's latency on a target",
                       description="Time a whole model: warm-up, then rounds of runs until the "
                                   "median is stable; prints median and minimum. CPU targets "
                                   "use 1 intra-op thread unless --threads says otherwise.")
    p.add_argument("model", help="ONNX model file")
    add_target_args(p)
    p.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..graph import load_model
    from ..latency import measure_model
    from ..latency.backends import open_backend
    from ..latency.cli_args import target_from_args
    from ..latency.timing import MODEL, QUICK_MODEL

    target = target_from_args(args)
    model = load_model(args.model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        backend = open_backend(target)
    for w in caught:
        note(f"warning: {w.message}")
    timing = measure_model(model, target, QUICK_MODEL if args.quick else MODEL, backend=backend)
    backend.close()
    kind = "estimate" if backend.estimate else "measured"
    if args.json:
        print(json.dumps({"model": args.model, "target": target.to_json(), "kind": kind,
                          "fingerprint": backend.fingerprint(), **timing.to_json()}))
    else:
        extra = "" if backend.estimate else f", min {timing.min_ms:.3f} ms over {timing.runs} runs"
        print(f"{args.model}: median {timing.median_ms:.3f} ms{extra} "
              f"({kind}; {target.summary()}; clock {target.timing_clock})")
    return 0
