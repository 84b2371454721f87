"""check_twin: run the twin and ONNX Runtime on the same inputs and compare outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..graph.capture_onnx import as_loaded
from ..runtime import random_inputs, session
from .errors import TwinMismatch

VACUOUS = 1e-6  # outputs all below this prove nothing


@dataclass
class TwinReport:
    ok: bool
    max_rel: float
    worst_output: str
    per_output: dict[str, float] = field(default_factory=dict)
    vacuous: bool = False

    def __str__(self) -> str:
        state = "ok" if self.ok else "MISMATCH"
        note = " (vacuous: outputs ~0)" if self.vacuous else ""
        return f"twin {state}: max rel error {self.max_rel:.3g} on {self.worst_output!r}{note}"


def relative_error(twin_out: np.ndarray, ort_out: np.ndarray) -> float:
    """max |twin - ort| / max |ort| (0 for two empty or two all-zero outputs)."""
    if twin_out.shape != ort_out.shape:
        return float("inf")
    if ort_out.size == 0:
        return 0.0
    a, b = twin_out.astype(np.float64), ort_out.astype(np.float64)
    diff = np.abs(a - b)
    if np.isnan(diff).any():
        same_nan = np.isnan(a) == np.isnan(b)
        if not same_nan.all():
            return float("inf")
        diff = np.where(np.isnan(diff), 0.0, diff)
    scale = float(np.abs(np.where(np.isfinite(b), b, 0)).max())
    top = float(diff.max())
    if top == 0:
        return 0.0
    return top / scale if scale > 0 else float("inf")


def check_twin(twin, model, feeds=None, batch: int = 2, seed: int = 0, rtol: float = 1e-4,
               raise_on_fail: bool = False) -> TwinReport:
    loaded = as_loaded(model)
    if feeds is None:
        feeds = random_inputs(loaded, batch=batch, seed=seed)
    feeds = {k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)) for k, v in feeds.items()}
    sess = session(loaded, threads=1)
    names = [o.name for o in sess.get_outputs()]
    expected = dict(zip(names, sess.run(None, feeds)))
    with torch.no_grad():
        got = twin(feeds)
    per_output, vacuous = {}, True
    for name in names:
        t = got[name].detach().cpu().numpy()
        per_output[name] = relative_error(t, expected[name])
        if expected[name].size and float(np.abs(expected[name].astype(np.float64)).max()) >= VACUOUS:
            vacuous = False
    worst = max(per_output, key=per_output.get) if per_output else ""
    max_rel = per_output.get(worst, 0.0)
    report = TwinReport(bool(max_rel <= rtol), max_rel, worst, per_output, vacuous)
    if raise_on_fail and not report.ok:
        raise TwinMismatch(str(report))
    return report
