"""Channel rules, one module per op family; importing this package registers them all."""

from . import elementwise, layers, movement, normalization  # noqa: F401  (registration)
from .base import RuleContext, apply_rule, lookup, node_seeds, supported_ops
from .layers import LayerAxes, layer_axes

__all__ = ["RuleContext", "apply_rule", "lookup", "node_seeds", "supported_ops", "LayerAxes",
           "layer_axes"]
