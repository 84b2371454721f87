"""halp_graph at training time: prune an nn.Module while it fine-tunes (HALP), in place.

    from halp_graph.torch import HALPPruner, module_groups, slim_module, export_onnx

`module_groups` traces a module with torch.fx into the same coupled channel groups the
ONNX front end finds; `slim_module` removes a plan's channels from the live module;
`HALPPruner` accumulates Taylor saliency, prunes on an annealed latency schedule with
channel masks, and slims at the end; `export_onnx` writes the result for deployment.
Requires the `torch` extra.
"""

from .capture_fx import capture_fx
from .correspond import match_groups, translate_plan
from .cost_bridge import OnnxPricedCostModel
from .fx_graph import FxCapture, ParamRef
from .masks import ChannelMasks
from .module_groups import ModuleGroups, module_groups, unwrap
from .onnx_export import export_onnx
from .oneshot_saliency import activation_saliency, magnitude_saliency
from .pruner import HALPPruner, PruneEvent
from .schedule import PruningSchedule
from .slim import SlimResult, slim_module
from .soft_masks import StraightThroughMasks
from .solve_step import select
from .taylor import TaylorSaliency

__all__ = ["capture_fx", "FxCapture", "ParamRef", "module_groups", "ModuleGroups", "unwrap",
           "slim_module", "SlimResult", "HALPPruner", "PruneEvent", "PruningSchedule",
           "ChannelMasks", "StraightThroughMasks", "TaylorSaliency", "select", "magnitude_saliency",
           "activation_saliency", "match_groups", "translate_plan", "export_onnx",
           "OnnxPricedCostModel"]
