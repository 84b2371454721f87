"""Fidelity of pruned models against the dense one, on a fixed evaluation set.

    probe = FidelityProbe(dense_model, samples)     # runs the dense model once
    probe.measure(pruned_model)                     # dict, see metrics.FidelityMeter.result

The dense model's outputs are computed once and kept, so every closed-loop round (and
every candidate a fidelity search tries) costs one run of the pruned model only. Both
models run in ONNX Runtime on one thread.
"""

from __future__ import annotations

import numpy as np

from ..graph import as_loaded
from ..runtime import session
from ..samples import Samples
from .metrics import FidelityMeter, classifier_like

EVAL_BATCH = 32


class FidelityProbe:
    def __init__(self, dense_model, samples: Samples, source: str, batch_size: int = EVAL_BATCH,
                 threads: int = 1):
        self.samples, self.source = samples, source
        self.batches = samples.batches(batch_size)
        self.labels = samples.label_batches(batch_size)
        self.threads = threads
        sess = session(as_loaded(dense_model), threads=threads)
        self.names = [o.name for o in sess.get_outputs()]
        self.dense = [sess.run(None, feeds) for feeds in self.batches]

    def measure(self, pruned_model) -> dict:
        sess = session(as_loaded(pruned_model), threads=self.threads)
        meter = FidelityMeter(self.names)
        for i, feeds in enumerate(self.batches):
            pruned = sess.run(self.names, feeds)
            meter.update(self.dense[i], pruned, self.labels[i] if self.labels else None)
        return {"source": self.source, **meter.result()}

    def has_classifier(self) -> bool:
        return any(classifier_like(np.asarray(o)) for o in self.dense[0])


def describe(fidelity: dict | None) -> str:
    """One line: agreement, KL, relative error, accuracy; or that nothing was measured."""
    if fidelity is None:
        return "not measured (no data)"
    parts = []
    if fidelity.get("agreement") is not None:
        parts.append(f"top-1 agreement {100 * fidelity['agreement']:.1f}%")
    acc = fidelity.get("accuracy")
    if acc:
        parts.append(f"accuracy {100 * acc['pruned']:.2f}% (dense {100 * acc['dense']:.2f}%)")
    worst = max(fidelity["outputs"].values(), key=lambda o: o["rel_l2"])
    parts.append(f"rel. L2 error {worst['rel_l2']:.3g}")
    if worst.get("cosine") is not None:
        parts.append(f"cosine {worst['cosine']:.4f}")
    return ", ".join(parts) + f" on {fidelity['samples']} samples"
