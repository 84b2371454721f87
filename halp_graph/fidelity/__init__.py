"""Fidelity: what a pruned model still computes, against the dense model, on real data.

    from halp_graph.fidelity import FidelityProbe
    from halp_graph.samples import read_samples
    probe = FidelityProbe("model.onnx", read_samples("eval.npz", proto), source="eval.npz")
    probe.measure(pruned)["agreement"]     # top-1 agreement; also rel_l2, cosine, kl, accuracy
"""

from .evaluate import FidelityProbe, describe
from .metrics import FidelityMeter, OutputMeter, classifier_like, distribution, kl_divergence

__all__ = ["FidelityProbe", "FidelityMeter", "OutputMeter", "describe", "classifier_like",
           "distribution", "kl_divergence"]
