"""What a pruned model still computes, against the dense model: metrics over batches.

For every output: the relative L2 error ||pruned - dense|| / ||dense|| over the whole
evaluation set, and the mean per-sample cosine similarity. For classifier-like outputs
([samples, classes] with at least two classes): top-1 agreement (the share of samples
whose arg-max class is the dense model's) and the mean KL divergence of the pruned
model's class distribution from the dense one's (softmax of logits; outputs that already
are distributions are taken as they are). With labels: the accuracy of both models on
the first classifier-like output.
"""

from __future__ import annotations

import numpy as np


def classifier_like(arr: np.ndarray) -> bool:
    return arr.ndim == 2 and arr.shape[1] >= 2 and np.issubdtype(arr.dtype, np.floating)


def distribution(arr: np.ndarray) -> np.ndarray:
    """Class probabilities of [samples, classes] scores: softmax, unless every row already
    is a distribution."""
    x = np.asarray(arr, dtype=np.float64)
    if np.all(x >= 0) and np.allclose(x.sum(axis=1), 1.0, atol=1e-4):
        return x
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def kl_divergence(dense: np.ndarray, pruned: np.ndarray) -> np.ndarray:
    """Per-sample KL(dense || pruned) of the class distributions, in nats."""
    p, q = distribution(dense), distribution(pruned)
    tiny = 1e-12
    return np.sum(p * (np.log(p + tiny) - np.log(q + tiny)), axis=1)


def _cosines(dense: np.ndarray, pruned: np.ndarray) -> np.ndarray:
    d = np.asarray(dense, dtype=np.float64).reshape(len(dense), -1)
    p = np.asarray(pruned, dtype=np.float64).reshape(len(pruned), -1)
    num = np.sum(d * p, axis=1)
    den = np.linalg.norm(d, axis=1) * np.linalg.norm(p, axis=1)
    both_zero = (np.linalg.norm(d, axis=1) == 0) & (np.linalg.norm(p, axis=1) == 0)
    return np.where(both_zero, 1.0, num / np.where(den > 0, den, 1.0))


class OutputMeter:
    """Running fidelity of one output."""

    def __init__(self, name: str):
        self.name = name
        self.err2 = self.ref2 = 0.0
        self.cos_sum = 0.0
        self.agree = self.kl_sum = 0.0
        self.samples = 0
        self.classifier: bool | None = None

    def update(self, dense: np.ndarray, pruned: np.ndarray) -> None:
        if dense.shape != pruned.shape:
            raise ValueError(f"output {self.name!r}: dense shape {dense.shape}, pruned {pruned.shape}")
        d = np.asarray(dense, dtype=np.float64)
        p = np.asarray(pruned, dtype=np.float64)
        self.err2 += float(np.sum((p - d) ** 2))
        self.ref2 += float(np.sum(d ** 2))
        per_sample = d.ndim >= 1 and len(d) > 0
        if per_sample:
            self.cos_sum += float(_cosines(d, p).sum())
            self.samples += len(d)
        if self.classifier is None:
            self.classifier = classifier_like(dense)
        if self.classifier:
            self.agree += float(np.sum(d.argmax(axis=1) == p.argmax(axis=1)))
            self.kl_sum += float(kl_divergence(d, p).sum())

    def result(self) -> dict:
        out = {"rel_l2": (self.err2 ** 0.5 / self.ref2 ** 0.5) if self.ref2 > 0 else (0.0 if self.err2 == 0 else float("inf")),
               "cosine": self.cos_sum / self.samples if self.samples else None}
        if self.classifier:
            out["agreement"] = self.agree / self.samples
            out["kl"] = self.kl_sum / self.samples
        return out


class FidelityMeter:
    """Fidelity of every output, and accuracy against labels, accumulated over batches."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.meters = [OutputMeter(n) for n in self.names]
        self.correct_dense = self.correct_pruned = 0
        self.labelled = 0

    def update(self, dense: list[np.ndarray], pruned: list[np.ndarray], labels: np.ndarray | None = None) -> None:
        for meter, d, p in zip(self.meters, dense, pruned):
            meter.update(np.asarray(d), np.asarray(p))
        if labels is not None:
            head = self.classifier_index()
            if head is None:
                return
            d, p = np.asarray(dense[head]), np.asarray(pruned[head])
            if len(labels) != len(d):
                raise ValueError(f"{len(labels)} labels for a batch of {len(d)} samples")
            self.correct_dense += int(np.sum(d.argmax(axis=1) == labels))
            self.correct_pruned += int(np.sum(p.argmax(axis=1) == labels))
            self.labelled += len(labels)

    def classifier_index(self) -> int | None:
        for i, m in enumerate(self.meters):
            if m.classifier:
                return i
        return None

    def result(self) -> dict:
        outputs = {m.name: m.result() for m in self.meters}
        head = self.classifier_index()
        out = {"samples": self.meters[0].samples if self.meters else 0,
               "outputs": outputs,
               "classifier_output": self.names[head] if head is not None else None,
               "agreement": outputs[self.names[head]]["agreement"] if head is not None else None,
               "kl": outputs[self.names[head]]["kl"] if head is not None else None,
               "accuracy": None}
        if self.labelled:
            out["accuracy"] = {"dense": self.correct_dense / self.labelled,
                               "pruned": self.correct_pruned / self.labelled, "samples": self.labelled}
        return out
