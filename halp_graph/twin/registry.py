"""The op table: ONNX op type -> builder of a torch function, filled by the ops_* modules
(op_table.py imports them all).

A builder is called once per node at build time with the node's parsed attributes, the
model's opset and the number of inputs/outputs, and returns `run(*inputs)` giving one
tensor or a tuple of tensors (one per node output). Absent optional inputs arrive as None.
Parsing attributes at build time keeps the forward pass free of proto work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

OPS: dict[str, Callable[["OpContext"], Callable]] = {}


@dataclass(frozen=True)
class OpContext:
    """What a builder may look at: the node's attributes and where it sits."""

    op_type: str
    attrs: dict[str, Any]
    opset: int
    n_inputs: int
    n_outputs: int

    def get(self, key: str, default: Any = None) -> Any:
        return self.attrs.get(key, default)


def op(*names: str):
    """Register a builder under one or more op types."""

    def register(builder):
        for name in names:
            OPS[name] = builder
        return builder

    return register


def simple(name: str, fn: Callable) -> None:
    """Register an op whose function takes no attributes."""
    OPS[name] = lambda ctx: fn

