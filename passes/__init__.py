"""Graph-rewrite passes over ONNX models, importable as `halp_graph.passes`.

Each pass follows onnx-ir's conventions: it says whether it works in place, checks its
preconditions in `requires` before touching anything and its result in `ensures`, and
returns a `PassResult(model, modified)`. A snake_case function beside each class runs it
in one call.
"""

from .base import Pass, PassResult
from .cleanup import CleanupPass, cleanup
from .latency_prune import LatencyPrunePass, latency_prune
from .mask_channels import MaskChannelsPass, mask_channels
from .prune_channels import PruneChannelsPass, prune_channels

__all__ = ["Pass", "PassResult", "CleanupPass", "cleanup", "LatencyPrunePass", "latency_prune",
           "MaskChannelsPass", "mask_channels",
           "PruneChannelsPass", "prune_channels"]
