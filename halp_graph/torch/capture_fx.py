"""torch.fx front end: trace an nn.Module into the same neutral Graph the ONNX front end makes.

The module is symbolically traced (torch.fx), shapes come from running one example input
through `torch.fx.passes.shape_prop.ShapeProp`, and every fx node is translated into the
ONNX-named ops the channel rules understand (Conv2d -> Conv, BatchNorm2d ->
BatchNormalization, Linear -> Gemm or MatMul + Add, torch.cat -> Concat ...). The
translation tables live in `halp_graph.torch.fx_modules` and `halp_graph.torch.fx_functions`,
the graph under construction and the node they translate in `halp_graph.torch.fx_graph`.

Parameters and buffers become constant tensors named by their qualified names
("layer1.0.conv1.weight"), and `FxCapture.params` maps each back to the module attribute
it lives in, so a group's members say which parameters to slice. Ops without a
translation become nodes in the "torch" domain: the rules have nothing for them, so the
channels that reach them are frozen, never guessed. Channel sizes that the Python code
spells out as literals (`x.view(n, 64, -1)`, `torch.split(x, [16, 48], 1)`) are recorded
in `FxCapture.fixed_axes`: the slimmed module could not follow them, so
`halp_graph.torch.module_groups` freezes the groups on those axes.

A module fx cannot trace (data-dependent control flow, unsupported Python) raises
`CaptureError` naming the innermost module being traced and the way out: declare it a
leaf (`leaf_modules=`) so it becomes one opaque op, or export to ONNX and use
`halp_graph.graph.analyze`.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Iterable

import torch
import torch.fx
from torch.fx.passes.shape_prop import ShapeProp

from ..errors import CaptureError
from ..graph.ir import Graph
from .fx_functions import convert_call
from .fx_graph import FxCapture, FxGraphBuilder, FxNodeContext, _flatten, _is_tensor_meta
from .fx_modules import convert_module

# ------------------------------------------------------------------ tracing
class LeafAwareTracer(torch.fx.Tracer):
    """fx's tracer plus user-declared leaf modules; errors remember the module they hit."""

    def __init__(self, leaf_types: tuple, leaf_names: set[str]):
        super().__init__()
        self.leaf_types = leaf_types
        self.leaf_names = leaf_names

    def is_leaf_module(self, m, module_qualified_name: str) -> bool:
        if module_qualified_name in self.leaf_names or (self.leaf_types and isinstance(m, self.leaf_types)):
            return True
        return super().is_leaf_module(m, module_qualified_name)

    def call_module(self, m, forward, args, kwargs):
        qualname = self.path_of_module(m)
        try:
            return super().call_module(m, forward, args, kwargs)
        except Exception as exc:
            if not hasattr(exc, "_halp_module"):
                exc._halp_module = (qualname, type(m).__name__)  # the innermost module
            raise


def trace(module, leaf_modules: Iterable = ()):
    """Symbolically trace `module`; `leaf_modules` holds module classes or qualified names
    to keep as single opaque calls."""
    leaf_types = tuple(m for m in leaf_modules if isinstance(m, type))
    leaf_names = {m for m in leaf_modules if isinstance(m, str)}
    tracer = LeafAwareTracer(leaf_types, leaf_names)
    try:
        graph = tracer.trace(module)
    except Exception as exc:
        where = getattr(exc, "_halp_module", None)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if where:
            qualname, cls = where
            place = f"inside module {qualname!r} ({cls})" if qualname else f"in {cls}.forward"
            hint = (f"pass leaf_modules=[{qualname!r}] (or the class {cls}) to keep it as one "
                    f"opaque op whose channels stay frozen" if qualname else
                    "mark the untraceable submodules as leaf_modules")
        else:
            place, hint = f"in {type(module).__name__}.forward", "mark untraceable submodules as leaf_modules"
        raise CaptureError(f"torch.fx cannot trace {type(module).__name__} {place}: {first}. "
                           f"Way out: {hint}, or export the model to ONNX "
                           f"(torch.onnx.export) and use halp_graph.graph.analyze") from None
    return torch.fx.GraphModule(tracer.root, graph, type(module).__name__)


def propagate_shapes(graph_module, example_inputs: tuple) -> None:
    """Annotate every fx node with the shapes of one eval-mode run (no statistics change)."""
    was_training = graph_module.training
    modes = {m: m.training for m in graph_module.modules()}
    graph_module.eval()
    try:
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            ShapeProp(graph_module).propagate(*example_inputs)
    except Exception as exc:
        cause = exc.__cause__ or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        node = _failing_node(str(exc))
        raise CaptureError(f"running the example input through the traced module failed"
                           f"{' at fx node ' + node if node else ''}: {first}") from None
    finally:
        for m, mode in modes.items():
            m.training = mode
        graph_module.training = was_training


def _failing_node(message: str) -> str | None:
    marker = "node="
    if marker not in message:
        return None
    return message.split(marker, 1)[1].split(" with meta", 1)[0].strip()


# ---------------------------------------------------------------- capture
def capture_fx(module, example_inputs, leaf_modules: Iterable = ()) -> FxCapture:
    """Trace `module` and build its neutral Graph (source "fx").

    `example_inputs`: a tensor or a tuple of tensors, shaped as in use (shapes are proven
    for these sizes, as an ONNX export is for its input shape).
    """
    if not isinstance(module, torch.nn.Module):
        raise CaptureError(f"capture_fx needs a torch.nn.Module, got {type(module).__name__}")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    example_inputs = tuple(example_inputs)
    gm = trace(module, leaf_modules)
    propagate_shapes(gm, example_inputs)
    return _convert(gm, module)


def _convert(gm, root) -> FxCapture:
    b = FxGraphBuilder(root)
    env: dict[str, Any] = {}  # fx node name -> neutral tensor name, tuple of names, or None
    inputs: list[str] = []
    outputs: list[str] = []
    for node in gm.graph.nodes:
        ctx = FxNodeContext(node, b, env)
        if node.op == "placeholder":
            meta = node.meta.get("tensor_meta")
            env[node.name] = b.data(node.name, meta) if _is_tensor_meta(meta) else None
            if env[node.name]:
                inputs.append(env[node.name])
        elif node.op == "get_attr":
            env[node.name] = _get_attr(b, node)
        elif node.op == "call_module":
            env[node.name] = convert_module(ctx, gm.get_submodule(node.target))
        elif node.op in ("call_function", "call_method"):
            env[node.name] = convert_call(ctx)
        elif node.op == "output":
            outputs = [n for n in _flatten(node.args[0], env) if n]
    tensor_of = {k: v for k, v in env.items() if isinstance(v, str)}
    graph = Graph(b.nodes, b.tensors, inputs, outputs, opset=18, source="fx")
    return FxCapture(graph, gm, b.params, b.modules, tensor_of, b.fixed_axes,
                     b.functional_grouped_convs)


def _get_attr(b: FxGraphBuilder, node) -> str | None:
    module, _, attr = node.target.rpartition(".")
    owner = b.root.get_submodule(module) if module else b.root
    if not isinstance(getattr(owner, attr, None), torch.Tensor):
        return None
    return b.param(module, attr)
