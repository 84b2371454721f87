"""halp_graph: hardware-aware latency pruning as a graph-rewriting pass over ONNX models.

    import halp_graph
    result = halp_graph.prune("model.onnx", target="cpu", budget=0.5)

Submodules: graph (capture, channel groups), passes (rewrites), latency (LUTs), saliency,
solver, pruning (the end-to-end flow), torch (HALP at training time).
"""

__version__ = "0.1.0"


def prune(model, target="cpu", budget=None, **kwargs):
    """Prune an ONNX model to a latency budget on a target; see halp_graph.pruning.prune."""
    from .pruning import prune as _prune
    return _prune(model, target=target, budget=budget, **kwargs)
