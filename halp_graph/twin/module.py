"""The Twin: an nn.Module that interprets an ONNX graph node by node with torch ops.

Trainable weights live in `params` (an nn.ParameterDict), other constants in `consts`
(buffers), both under sanitized keys with a map back to the ONNX names. The forward pass
walks the nodes in the model's (topological) order, calling an optional hook on every
graph input and node output so callers can multiply channel masks into any tensor.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..errors import HalpError
from .graph import TwinNode
from .to_onnx import twin_to_onnx
from .values import to_tensor

Hook = Callable[[str, torch.Tensor], "torch.Tensor | None"]


class Twin(nn.Module):
    """An executable, differentiable copy of an ONNX model (build it with build_twin)."""

    def __init__(self, loaded, opset: int, nodes: list[TwinNode], input_names: list[str],
                 output_names: list[str], constants: dict[str, tuple[np.ndarray, bool]]):
        super().__init__()
        self.loaded = loaded
        self.opset = opset
        self.nodes = nodes
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self.params = nn.ParameterDict()
        self.consts = nn.Module()
        self._keys: dict[str, tuple[str, bool]] = {}  # onnx name -> (key, trainable)
        self._changed: set[str] = set()  # constants replaced through set_constant
        used: set[str] = set()
        for name, (array, trainable) in constants.items():
            key = _unique_key(name, used)
            self._keys[name] = (key, trainable)
            tensor = to_tensor(array)
            if trainable:
                self.params[key] = nn.Parameter(tensor)
            else:
                self.consts.register_buffer(key, tensor)
        self._free = _last_uses(nodes, set(output_names))

    # ------------------------------------------------------------------ constants
    def constant(self, name: str) -> torch.Tensor | None:
        """The current value of an initializer or Constant-node output, else None."""
        entry = self._keys.get(name)
        if entry is None:
            return None
        key, trainable = entry
        return self.params[key] if trainable else getattr(self.consts, key)

    def parameter_names(self) -> list[str]:
        """ONNX names of the initializers (and Constant outputs) that are nn.Parameters."""
        return [name for name, (_, trainable) in self._keys.items() if trainable]

    def set_constant(self, name: str, tensor) -> None:
        """Replace a constant's value (its shape may change); a Parameter stays one.
        Optimizers holding the old Parameter must be rebuilt."""
        entry = self._keys.get(name)
        if entry is None:
            raise HalpError(f"twin has no constant named {name!r}")
        key, trainable = entry
        old = self.constant(name)
        value = to_tensor(tensor).detach().to(device=old.device, dtype=old.dtype).clone()
        if trainable:
            self.params[key] = nn.Parameter(value, requires_grad=old.requires_grad)
        else:
            self.consts.register_buffer(key, value)
        self._changed.add(name)

    # ------------------------------------------------------------------ execution
    def run_node(self, node: TwinNode, values: list) -> list[torch.Tensor]:
        """Execute one node on its input values (None for absent optional inputs)."""
        try:
            out = node.fn(*values)
        except HalpError:
            raise
        except Exception as exc:
            raise RuntimeError(f"twin node {node.name!r} ({node.op_type}): {type(exc).__name__}: {exc}") from exc
        if isinstance(out, torch.Tensor):
            return [out]
        return list(out)

    def forward(self, feeds: dict, hook: Hook | None = None) -> dict[str, torch.Tensor]:
        env: dict[str, torch.Tensor] = {}
        device = self._device()
        for name in self.input_names:
            if name not in feeds:
                raise HalpError(f"twin input {name!r} was not fed (inputs: {self.input_names})")
            value = to_tensor(feeds[name]).to(device)
            env[name] = _hooked(hook, name, value)
        for node, free in zip(self.nodes, self._free):
            outs = self.run_node(node, [self._lookup(n, env) for n in node.inputs])
            for name, value in zip(node.outputs, outs):
                if name:
                    env[name] = _hooked(hook, name, value)
            for name in free:
                env.pop(name, None)
        return {name: self._lookup(name, env) for name in self.output_names}

    def record(self, feeds: dict, hook: Hook | None = None) -> dict[str, torch.Tensor]:
        """Every tensor of one run (with `hook` on each, as in forward), graph inputs and
        node outputs, none freed: the base `run_from` reruns part of the graph over."""
        env = {name: _hooked(hook, name, to_tensor(feeds[name]).to(self._device())) for name in self.input_names}
        for node in self.nodes:
            outs = self.run_node(node, [self._lookup(n, env) for n in node.inputs])
            env.update((name, _hooked(hook, name, value)) for name, value in zip(node.outputs, outs) if name)
        return env

    def run_from(self, start: int, base: dict, hook: Hook | None = None) -> dict[str, torch.Tensor]:
        """The graph outputs when nodes[start:] run again, reading anything computed before
        them from `base` (a `record`), with `hook` on every tensor they produce. Equal to a
        whole run with the same hook when the hook changes nothing before nodes[start]."""
        env: dict[str, torch.Tensor] = {}
        for node in self.nodes[start:]:
            values = [env[n] if n in env else self._lookup(n, base) for n in node.inputs]
            for name, value in zip(node.outputs, self.run_node(node, values)):
                if name:
                    env[name] = _hooked(hook, name, value)
        return {name: env[name] if name in env else self._lookup(name, base) for name in self.output_names}

    def _lookup(self, name: str, env: dict):
        if not name:
            return None
        value = env.get(name)
        if value is None:
            value = self.constant(name)
            if value is None:
                raise HalpError(f"twin: tensor {name!r} has no value (not an input, constant or node output)")
        return value

    def _device(self) -> torch.device:
        for t in self.params.values():
            return t.device
        for t in self.consts.buffers():
            return t.device
        return torch.device("cpu")

    def to_onnx(self):
        """A copy of the source model carrying the current parameter values."""
        return twin_to_onnx(self)

    def extra_repr(self) -> str:
        return f"{len(self.nodes)} nodes, {len(self.parameter_names())} parameters, opset {self.opset}"


def _hooked(hook: Hook | None, name: str, value: torch.Tensor) -> torch.Tensor:
    if hook is None:
        return value
    out = hook(name, value)
    return value if out is None else out


def _unique_key(name: str, used: set[str]) -> str:
    key = re.sub(r"[^0-9A-Za-z_]", "_", name) or "_"
    if key[0].isdigit():
        key = "_" + key
    base, n = key, 1
    while key in used:
        n += 1
        key = f"{base}_{n}"
    used.add(key)
    return key


def _last_uses(nodes: list[TwinNode], keep: set[str]) -> list[list[str]]:
    """Per node, the values no later node reads (dropped after it runs to save memory)."""
    last: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for name in node.inputs:
            if name:
                last[name] = i
    free: list[list[str]] = [[] for _ in nodes]
    for name, i in last.items():
        if name not in keep:
            free[i].append(name)
    return free
