"""The neutral graph a torch.fx capture builds, and the fx node being translated.

`FxGraphBuilder` collects neutral (ONNX-named) nodes and tensors while the fx graph is
walked; parameters and buffers become constant tensors named by their qualified names,
and `ParamRef` leads each back to the module attribute it views. `FxNodeContext` is
what a converter in `fx_modules` / `fx_functions` sees of one fx node: its arguments
as neutral tensors and its output shapes. `FxCapture` is the result of `capture_fx`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch.fx

from ..errors import CaptureError
from ..graph.ir import Graph, Node, Tensor

TORCH_DOMAIN = "torch"  # ops without a channel rule: whatever channels reach them freeze

_ONNX_DTYPES = {"float32": 1, "uint8": 2, "int8": 3, "int16": 5, "int32": 6, "int64": 7,
                "bool": 9, "float16": 10, "float64": 11, "bfloat16": 16}


@dataclass(frozen=True)
class ParamRef:
    """Where a constant tensor of the neutral graph lives in the module.

    `axes[i]` is the parameter axis that neutral axis i views, or None for a size-1 axis
    the capture added for broadcasting (a PReLU slope seen as [C, 1, 1]). A Linear's
    weight used as a MatMul operand is seen transposed: axes (1, 0).
    """

    module: str  # qualified name of the owning module ("" for the root)
    name: str  # attribute name on that module ("weight", "running_mean", ...)
    axes: tuple[int | None, ...]

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}" if self.module else self.name

    def param_axis(self, neutral_axis: int) -> int | None:
        return self.axes[neutral_axis]


@dataclass
class FxCapture:
    """The neutral graph of a traced module, plus the way back to the module."""

    graph: Graph
    graph_module: Any  # torch.fx.GraphModule sharing the module's submodules
    params: dict[str, ParamRef] = field(default_factory=dict)  # neutral tensor -> attribute
    modules: dict[str, str] = field(default_factory=dict)  # neutral node -> module qualname
    tensor_of: dict[str, str] = field(default_factory=dict)  # fx node name -> neutral tensor
    fixed_axes: list[tuple[str, int, str]] = field(default_factory=list)  # (tensor, axis, why)
    functional_grouped_convs: list[str] = field(default_factory=list)  # neutral node names


class FxGraphBuilder:
    """Collects neutral nodes and tensors while the fx graph is walked."""

    def __init__(self, root):
        self.root = root
        self.nodes: list[Node] = []
        self.tensors: dict[str, Tensor] = {}
        self.params: dict[str, ParamRef] = {}
        self.modules: dict[str, str] = {}
        self.fixed_axes: list[tuple[str, int, str]] = []
        self.functional_grouped_convs: list[str] = []
        self._names: set[str] = set()
        self._node_names: set[str] = set()

    # ------------------------------------------------------------- names
    def fresh(self, hint: str) -> str:
        name, i = hint, 0
        while name in self._names or name in self.tensors:
            i += 1
            name = f"{hint}.{i}"
        self._names.add(name)
        return name

    # ----------------------------------------------------------- tensors
    def data(self, name: str, meta) -> str:
        """Register a tensor computed at run time, with its shape from ShapeProp."""
        t = self.tensors.get(name) or Tensor(name)
        t.shape = tuple(int(d) for d in meta.shape)
        t.dtype = _onnx_dtype(meta.dtype)
        self.tensors[name] = t
        self._names.add(name)
        return name

    def data_shape(self, name: str, shape: Sequence[int], dtype: int | None = 1) -> str:
        self.tensors[name] = Tensor(name, tuple(int(d) for d in shape), dtype)
        self._names.add(name)
        return name

    def param(self, module: str, attr: str, axes: tuple[int | None, ...] | None = None,
              suffix: str = "") -> str:
        """A parameter or buffer of submodule `module` as a constant tensor (lazy value)."""
        owner = self.root.get_submodule(module) if module else self.root
        value = getattr(owner, attr)
        ref = ParamRef(module, attr, tuple(range(value.dim())) if axes is None else tuple(axes))
        name = ref.qualname + suffix
        existing = self.params.get(name)
        if existing is not None:
            if existing != ref:
                raise CaptureError(f"tensor {name!r} is viewed in two incompatible ways")
            return name
        shape = _viewed_shape(tuple(value.shape), ref.axes)
        self.params[name] = ref
        self.tensors[name] = Tensor(name, shape, _onnx_dtype(value.dtype),
                                    loader=_param_loader(owner, attr, ref.axes),
                                    is_initializer=True)
        self._names.add(name)
        return name

    def const(self, hint: str, value) -> str:
        """A small literal (a scalar operand, Slice bounds) as a constant tensor."""
        arr = np.asarray(value)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        name = self.fresh(hint)
        self.tensors[name] = Tensor(name, tuple(arr.shape), None, _value=arr)
        return name

    # -------------------------------------------------------------- nodes
    def emit(self, name: str, op_type: str, inputs: list[str], outputs: list[str],
             attrs: dict | None = None, domain: str = "", module: str | None = None) -> Node:
        unique, i = name, 0
        while unique in self._node_names:
            i += 1
            unique = f"{name}.{i}"
        self._node_names.add(unique)
        node = Node(unique, op_type, list(inputs), list(outputs), dict(attrs or {}), domain)
        self.nodes.append(node)
        if module is not None:
            self.modules[node.name] = module
        return node

    def fix_axis(self, tensor: str, axis: int, reason: str) -> None:
        self.fixed_axes.append((tensor, axis, reason))


def _viewed_shape(shape: tuple, axes: tuple[int | None, ...]) -> tuple[int, ...]:
    return tuple(1 if a is None else shape[a] for a in axes)


def _param_loader(owner, attr: str, axes: tuple[int | None, ...]):
    def load() -> np.ndarray:
        value = getattr(owner, attr).detach().cpu()
        real = [a for a in axes if a is not None]
        arr = value.permute(*real).numpy() if real else value.numpy()
        return arr.reshape(_viewed_shape(tuple(value.shape), axes)).copy()

    return load


def _onnx_dtype(dtype) -> int | None:
    return _ONNX_DTYPES.get(str(dtype).replace("torch.", ""))


def _flatten(value, env) -> list[str]:
    if isinstance(value, torch.fx.Node):
        v = env.get(value.name)
        return list(v) if isinstance(v, tuple) else [v] if isinstance(v, str) else []
    if isinstance(value, (list, tuple)):
        return [n for item in value for n in _flatten(item, env)]
    if isinstance(value, dict):
        return [n for item in value.values() for n in _flatten(item, env)]
    return []


def _is_tensor_meta(meta) -> bool:
    return meta is not None and hasattr(meta, "shape") and hasattr(meta, "dtype")


class FxNodeContext:
    """One fx node being translated: its arguments as neutral tensors, its output shapes."""

    def __init__(self, node, builder: FxGraphBuilder, env: dict):
        self.node = node
        self.b = builder
        self.env = env

    @property
    def name(self) -> str:
        return self.node.name

    def arg(self, index: int, key: str, default: Any = None) -> Any:
        if index < len(self.node.args):
            return self.node.args[index]
        return self.node.kwargs.get(key, default)

    def value(self, arg) -> Any:
        """The neutral tensor name of an fx argument (None for non-tensors)."""
        if isinstance(arg, torch.fx.Node):
            return self.env.get(arg.name)
        return None

    def tensor(self, arg, hint: str = "const") -> str | None:
        """A tensor argument's name; Python numbers become scalar constants."""
        if isinstance(arg, torch.fx.Node):
            v = self.env.get(arg.name)
            return v if isinstance(v, str) else None
        if isinstance(arg, (bool, int, float)):
            return self.b.const(f"{self.name}.{hint}", np.asarray(arg, dtype=np.float32))
        return None

    def shape(self, arg) -> tuple | None:
        name = self.tensor(arg) if not isinstance(arg, str) else arg
        if name is None:
            return None
        return self.b.tensors[name].shape

    # outputs ------------------------------------------------------------
    @property
    def meta(self):
        return self.node.meta.get("tensor_meta")

    def output_is_tensor(self) -> bool:
        return _is_tensor_meta(self.meta)

    def output_metas(self) -> list | None:
        """Metas of a tuple/list output (split, chunk), or None."""
        meta = self.meta
        if isinstance(meta, (list, tuple)) and meta and all(_is_tensor_meta(m) for m in meta):
            return list(meta)
        return None

    def out(self, suffix: str = "") -> str:
        """Register (and name) this node's single tensor output."""
        return self.b.data(self.name + suffix, self.meta)

    def emit(self, op_type: str, inputs: list[str], attrs: dict | None = None, domain: str = "",
             module: str | None = None) -> str:
        """Emit one op producing this node's output; returns the output name."""
        y = self.out()
        self.b.emit(self.name, op_type, inputs, [y], attrs, domain, module)
        return y

    def opaque(self, label: str) -> Any:
        """An op without a channel rule: channels reaching it (either way) freeze."""
        ins = [v for v in _flatten(list(self.node.args) + list(self.node.kwargs.values()), self.env)]
        metas = self.output_metas()
        if self.output_is_tensor():
            return self.emit(label, ins, domain=TORCH_DOMAIN)
        if metas is not None:
            outs = [self.b.data(f"{self.name}.{i}", m) for i, m in enumerate(metas)]
            self.b.emit(self.name, label, ins, outs, domain=TORCH_DOMAIN)
            return tuple(outs)
        return None
