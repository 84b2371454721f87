"""halp_graph: hardware-aware latency pruning as a graph-rewriting pass over ONNX models."""

__version__ = "0.1.0"
