"""halp_graph: hardware-aware latency pruning as a graph-rewriting pass over ONNX models.

    import halp_graph
    result = halp_graph.prune("model.onnx", target="cpu", budget=0.5)

Submodules: graph (capture, channel groups), passes (rewrites), latency (LUTs), saliency,
solver, pruning (the end-to-end flow), torch (HALP at training time).
"""

from .pruning import prune
from .version import __version__

__all__ = ["prune", "__version__"]
