"""The complete op table: importing every ops_* module registers its builders in OPS."""

from . import ops_elementwise, ops_nn, ops_norm, ops_reduce, ops_resize, ops_shape  # noqa: F401
from .registry import OPS

__all__ = ["OPS"]
