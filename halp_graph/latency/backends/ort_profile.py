"""Reading ONNX Runtime's profiler: how long each kind of kernel ran in a session.

The CPU execution provider runs convolutions in a blocked layout (NCHWc) and converts
at the edges of a region of such ops (ReorderInput / ReorderOutput). A layer cut out of
a model is such a region by itself, so its timing includes two conversions that the
layer does not pay inside the model, where its neighbours stay blocked too. The
profiler tells how long those conversions took, so the backend can leave them out.
"""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

LAYOUT_OPS = ("ReorderInput", "ReorderOutput")


def kernel_times(ort, session_factory, model_bytes: bytes, feeds: dict, runs: int = 8,
                 skip: int = 2) -> dict[str, float]:
    """{op type: median ms per run} from a profiled session of `runs` runs (the first
    `skip` runs are left out as warm-up)."""
    with tempfile.TemporaryDirectory(prefix="halp_ort_profile_") as tmp:
        sess = session_factory(model_bytes, profile_prefix=os.path.join(tmp, "profile"))
        for _ in range(runs):
            sess.run(None, feeds)
        path = sess.end_profiling()
        with open(path, encoding="utf-8") as f:
            events = json.load(f)
    per_op: dict[str, list[float]] = {}
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            per_op.setdefault(event["args"]["op_name"], []).append(event["dur"] / 1e3)
    out = {}
    for op, durations in per_op.items():
        per_run = len(durations) / runs
        kept = durations[int(skip * per_run):] or durations
        out[op] = float(np.median(kept)) * per_run
    return out


def layout_ms(times: dict[str, float]) -> float:
    return sum(ms for op, ms in times.items() if op in LAYOUT_OPS)
