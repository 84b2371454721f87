"""Candidate subgraphs: each layer with what a backend fuses into it, rebuilt at any width.

For every weight-carrying layer of a model, `layer_specs` cuts out the layer and its
*tail*: the channel-wise ops that follow it and carry its output channels (BatchNorm,
activations, SiLU's x*sigmoid(x), a residual Add or an excitation Mul with its other
operand). Backends fuse exactly these into the layer (ORT's Conv+Add+Relu, cuDNN and
TensorRT epilogues), and their cost moves with the layer's output count, so they belong
to the layer's price. A join that two layers' tails reach (the Add of a bottleneck and
its downsample) goes to the layer whose operand is computed last, which is where ORT
fuses it; it is counted once.

A `LayerSpec` is the cut in a neutral form: the layer's op and attributes, the real input
shape at the target's batch, the tail ops, and which dimension of every tensor and
constant carries the channels. `to_onnx(ci, co)` rebuilds it as a standalone model with
`ci` input and `co` output channels and random weights; `signature()` is everything that
decides its latency except the channel pair, so identical layers are timed once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import TargetError
from ..graph.groups import GroupSet, Layer
from ..graph.ir import Graph, Node

UNARY = {"Relu", "LeakyRelu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Elu",
         "Selu", "Celu", "Gelu", "Erf", "Softplus", "Softsign", "Mish", "Exp", "Abs", "Neg",
         "Sqrt", "Reciprocal", "Identity", "Dropout", "ThresholdedRelu"}
BINARY = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu"}
NORMS = {"BatchNormalization"}
LAYER_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


@dataclass(frozen=True)
class TensorSpec:
    """A tensor's shape at full width; `channel_axis` is where the layer's channels are
    (None when the tensor only broadcasts along them)."""

    shape: tuple[int, ...]
    channel_axis: int | None = None

    def at(self, count: int) -> tuple[int, ...]:
        if self.channel_axis is None:
            return self.shape
        shape = list(self.shape)
        shape[self.channel_axis] = count
        return tuple(shape)

    def signature(self) -> list:
        return ["C" if i == self.channel_axis else d for i, d in enumerate(self.shape)]


@dataclass
class ConstSpec:
    value: np.ndarray
    channel_axis: int | None = None

    def at(self, count: int) -> np.ndarray:
        if self.channel_axis is None:
            return self.value
        return np.take(self.value, np.arange(count), axis=self.channel_axis)

    def signature(self) -> list:
        return TensorSpec(tuple(self.value.shape), self.channel_axis).signature()


@dataclass
class TailNode:
    op_type: str
    attrs: dict
    inputs: list[tuple[str, int]]  # ("tail", i) | ("const", i) | ("ext", i) | ("none", 0)


@dataclass
class LayerSpec:
    """One layer and its fused tail, ready to be rebuilt at any channel pair."""

    name: str
    op_type: str
    attrs: dict
    input: TensorSpec
    output: TensorSpec
    full_in: int
    full_out: int
    groups: int
    depthwise: bool
    weight_shape: tuple[int, ...]
    weight_name: str
    bias_name: str | None
    opset: int
    tail: list[TailNode] = field(default_factory=list)
    tail_shapes: list[TensorSpec] = field(default_factory=list)  # [0] is the layer output
    consts: list[ConstSpec] = field(default_factory=list)
    externals: list[TensorSpec] = field(default_factory=list)
    outputs: list[int] = field(default_factory=lambda: [0])
    dtype: str = "float32"

    # ----------------------------------------------------------- identity
    def signature(self) -> dict:
        """Everything that decides latency except the channel pair (and weight values)."""
        return {
            "op": self.op_type,
            "attrs": _canonical_attrs(self.attrs, drop=("group",)),
            "input": self.input.signature(),
            "output": self.output.signature(),
            "weight_rank": len(self.weight_shape),
            "groups": "depthwise" if self.depthwise else self.groups,
            "multiplier": self.multiplier if self.depthwise else 1,
            "bias": self.bias_name is not None,
            "tail": [[n.op_type, _canonical_attrs(n.attrs), [list(i) for i in n.inputs]]
                     for n in self.tail],
            "consts": [c.signature() for c in self.consts],
            "externals": [e.signature() for e in self.externals],
            "outputs": list(self.outputs),
            "dtype": self.dtype,
        }

    def signature_key(self) -> str:
        return digest(self.signature())

    def entry_key(self) -> str:
        """The key of this layer's LUT entry: its signature and its full channel pair."""
        return digest({"signature": self.signature(), "full": [self.full_in, self.full_out]})

    @property
    def multiplier(self) -> int:
        return self.full_out // self.full_in if self.depthwise else 1

    @property
    def batch(self) -> int:
        return int(self.input.shape[0]) if self.input.shape else 1

    def describe(self) -> str:
        kernel = self.attrs.get("kernel_shape")
        k = "x".join(map(str, kernel)) if kernel else ""
        spatial = "x".join(str(d) for i, d in enumerate(self.input.shape)
                           if i not in (0, self.input.channel_axis))
        kind = "dw" if self.depthwise else (f"g{self.groups}" if self.groups > 1 else "")
        tail = "+".join(n.op_type for n in self.tail)
        parts = [self.op_type + (k and f" {k}"), kind, f"@{spatial}" if spatial else "",
                 f"s{self.attrs['strides'][0]}" if self.attrs.get("strides", [1])[0] != 1 else "",
                 tail and f"+{tail}"]
        return " ".join(p for p in parts if p)

    # ------------------------------------------------------------ rebuild
    def check_pair(self, ci: int, co: int) -> None:
        if ci < 1 or co < 1 or ci > self.full_in or co > self.full_out:
            raise ValueError(f"{self.name}: channel pair ({ci}, {co}) outside "
                             f"[1, {self.full_in}] x [1, {self.full_out}]")
        if self.depthwise and co != ci * self.multiplier:
            raise ValueError(f"{self.name}: depthwise layer needs co = {self.multiplier} * ci")
        if not self.depthwise and self.groups > 1 and (ci % self.groups or co % self.groups):
            raise ValueError(f"{self.name}: grouped layer needs ci and co divisible by {self.groups}")

    def weight_shape_at(self, ci: int, co: int) -> tuple[int, ...]:
        groups = ci if self.depthwise else self.groups
        if self.op_type == "Conv":
            return (co, ci // groups, *self.weight_shape[2:])
        if self.op_type == "ConvTranspose":
            return (ci, co // groups, *self.weight_shape[2:])
        if self.op_type == "Gemm" and self.attrs.get("transB", 0):
            return (co, ci)
        return (ci, co)

    def to_onnx(self, ci: int, co: int, seed: int = 0,
                params: dict[str, np.ndarray] | None = None,
                external: dict[str, np.ndarray] | None = None,
                blocked_operands: bool = False) -> onnx.ModelProto:
        """A standalone model of this layer and its tail at `ci` -> `co` channels.

        Weights are random unless `params` gives the original weight/bias arrays (used to
        prove the cut computes what the model computes). With `external`, the model's
        initializers only name their data, which goes into `external` by name instead, for
        ONNX Runtime's add_external_initializers: a timed model then carries no copies of
        its weights (a 411 MB classifier's were copied five times per session).

        With `blocked_operands`, each 4-D join operand reaches the tail through a 1x1
        MaxPool, node and output named `aux<i>` (a timer leaves its kernels out). Inside a
        model such an operand is produced by another conv; ONNX Runtime's CPU provider then
        keeps it in its blocked layout and fuses the join into the layer's kernel (conv +
        Add + Relu as one kernel), which it does not when the operand is a plain graph
        input: resnet50's residual convs then ran conv, ReorderOutput, Add and Relu, 70%
        over their time in the model. The pool gives the operand the producer a model
        gives it."""
        self.check_pair(ci, co)
        inits, inputs, nodes = [], [], []
        inputs.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, self.input.at(ci)))
        w_shape = self.weight_shape_at(ci, co)
        if params and "weight" in params:
            weight = _slice_weight(params["weight"], w_shape)
        else:
            fan_in = int(np.prod(w_shape[1:])) if self.op_type == "Conv" else max(ci, 1)
            weight = random_values(w_shape, seed) * np.float32(1 / np.sqrt(max(fan_in, 1)))
        inits.append(_initializer(weight, "W", external))
        layer_inputs = ["x", "W"]
        if self.bias_name is not None:
            bias = (params["bias"][:co] if params and "bias" in params
                    else 0.1 * random_values((co,), seed + 2)).astype(np.float32)
            inits.append(_initializer(bias, "B", external))
            layer_inputs.append("B")
        attrs = dict(self.attrs)
        if self.depthwise:
            attrs["group"] = ci
        nodes.append(helper.make_node(self.op_type, layer_inputs, ["t0"], name="layer", **attrs))
        for i, const in enumerate(self.consts):
            inits.append(_initializer(np.ascontiguousarray(const.at(co)), f"c{i}", external))
        operands = {}
        for i, ext in enumerate(self.externals):
            inputs.append(helper.make_tensor_value_info(f"e{i}", TensorProto.FLOAT, ext.at(co)))
            if blocked_operands and len(ext.shape) == 4:
                nodes.append(helper.make_node("MaxPool", [f"e{i}"], [f"aux{i}"], name=f"aux{i}",
                                              kernel_shape=[1, 1]))
                operands[("ext", i)] = f"aux{i}"
        for i, tail in enumerate(self.tail):
            names = [operands.get(tuple(ref)) or _ref_name(ref) for ref in tail.inputs]
            nodes.append(helper.make_node(tail.op_type, names, [f"t{i + 1}"], name=f"tail{i}",
                                          **tail.attrs))
        outputs = [helper.make_tensor_value_info(f"t{i}", TensorProto.FLOAT,
                                                 self.tail_shapes[i].at(co)) for i in self.outputs]
        graph = helper.make_graph(nodes, f"layer_{self.op_type}", inputs, outputs, inits)
        opsets = [helper.make_opsetid("", self.opset)]
        return helper.make_model(graph, opset_imports=opsets,
                                 ir_version=helper.find_min_ir_version_for(opsets),
                                 producer_name="halp_graph.latency")

    def feeds(self, ci: int, co: int, seed: int = 0) -> dict[str, np.ndarray]:
        """Random inputs for `to_onnx(ci, co)`: the layer input and any join operands."""
        feeds = {"x": random_values(self.input.at(ci), seed + 1)}
        for i, ext in enumerate(self.externals):
            feeds[f"e{i}"] = random_values(ext.at(co), seed + 3 + i)
        return feeds


def _initializer(array: np.ndarray, name: str, external: dict | None) -> TensorProto:
    """`array` as an initializer, or (with `external`) one that names its data only."""
    if external is None:
        return numpy_helper.from_array(array, name)
    tensor = TensorProto(name=name, data_type=helper.np_dtype_to_tensor_dtype(array.dtype),
                         dims=array.shape, data_location=TensorProto.EXTERNAL)
    for key, value in (("location", name), ("offset", "0"), ("length", str(array.nbytes))):
        tensor.external_data.add(key=key, value=value)
    external[name] = np.ascontiguousarray(array)
    return tensor


POOL_LIMIT = 1 << 25  # float32 values kept per seed (128 MB at most)
_pools: dict[int, np.ndarray] = {}


def random_values(shape, seed: int) -> np.ndarray:
    """Standard-normal float32 values of `shape`, read from one pool drawn per seed.

    A layer's latency does not depend on its values, and drawing a large layer's weights
    and input afresh for every timed pair took a fifth of a LUT build. A tensor beyond the
    pool's limit is the pool repeated."""
    n = int(np.prod(shape, dtype=np.int64))
    pool = _pools.get(seed)
    if pool is None or len(pool) < n:
        if n > POOL_LIMIT:
            return np.resize(random_values((POOL_LIMIT,), seed), n).reshape(shape)
        pool = _pools[seed] = np.random.default_rng(seed).standard_normal(
            max(n, 1 << 20, 0 if pool is None else 2 * len(pool)), dtype=np.float32)[:POOL_LIMIT]
    return pool[:n].reshape(shape)


# ---------------------------------------------------------------------- cutting
def layer_specs(groups: GroupSet, batch: int | None = None) -> dict[str, LayerSpec]:
    """{layer name: LayerSpec} for every layer of the model, at `batch` (default: the
    model's own static batch, or 1 where it is symbolic)."""
    graph = groups.graph
    layers = {layer.name: layer for layer in groups.layers}
    tails = assign_tails(graph, layers)
    specs = {}
    for name, layer in layers.items():
        specs[name] = _make_spec(graph, layer, tails.get(name, []), batch)
    return specs


def assign_tails(graph: Graph, layers: dict[str, Layer]) -> dict[str, list[Node]]:
    """Walk the graph in order; a channel-wise op joins the tail of the layer that owns its
    latest-computed data input, provided it still carries that layer's channels."""
    owner: dict[str, str] = {}
    tails: dict[str, list[Node]] = {}
    for node in graph.nodes:
        if node.name in layers:
            if node.outputs and node.outputs[0]:
                owner[node.outputs[0]] = node.name
            continue
        if not _is_channelwise(node):
            continue
        data = [t for t in node.inputs if t and not graph.is_constant(t)]
        if not data:
            continue
        latest = max(data, key=lambda t: graph.producer[t].index if t in graph.producer else -1)
        name = owner.get(latest)
        if name is None or not _carries(graph, node.outputs[0], layers[name], graph.nodes_by_name[name]):
            continue
        owner[node.outputs[0]] = name
        tails.setdefault(name, []).append(node)
    return tails


def _is_channelwise(node: Node) -> bool:
    if node.op_type in UNARY or node.op_type in BINARY:
        return bool(node.outputs) and not any(node.outputs[1:])
    if node.op_type in NORMS:
        return not node.attr("training_mode", 0)
    return False


def _channel_position(rank: int, out_rank: int, out_axis: int) -> int | None:
    """Where the layer's output channel axis lands in a tensor of `rank`, broadcasting
    aligns trailing dimensions."""
    pos = out_axis - out_rank + rank
    return pos if 0 <= pos < rank else None


def _carries(graph: Graph, tensor: str, layer: Layer, node: Node) -> bool:
    shape = graph.shape(tensor)
    out_shape = graph.shape(node.outputs[0])
    if not shape or not out_shape:
        return False
    pos = _channel_position(len(shape), len(out_shape), layer.out_key.axis)
    return pos is not None and shape[pos] == layer.out_channels


def _make_spec(graph: Graph, layer: Layer, tail: list[Node], batch: int | None) -> LayerSpec:
    node = graph.nodes_by_name[layer.name]
    if node.op_type not in LAYER_OPS:
        raise TargetError(f"layer {layer.name}: op {node.op_type} has no latency model")
    x, y = node.inputs[0], node.outputs[0]
    weight_slot = 1
    if node.op_type == "MatMul" and not graph.is_constant(node.inputs[1]):
        raise TargetError(f"layer {layer.name}: MatMul with a constant first operand is not "
                          f"supported by the latency tables")
    model_batch = _model_batch(graph)
    in_shape = _static(graph, x, layer, batch, model_batch)
    out_shape = _static(graph, y, layer, batch, model_batch)
    out_axis = layer.out_key.axis
    w_shape = tuple(int(d) for d in graph.shape(node.inputs[weight_slot]) or ())
    groups = int(node.attr("group", 1)) if node.op_type in ("Conv", "ConvTranspose") else 1
    cin = in_shape[layer.in_key.axis]
    depthwise = groups > 1 and groups == cin
    bias = node.input(2) if node.op_type in ("Conv", "ConvTranspose", "Gemm") else ""
    spec = LayerSpec(
        name=layer.name, op_type=node.op_type, attrs=_plain_attrs(node.attrs),
        input=TensorSpec(in_shape, layer.in_key.axis), output=TensorSpec(out_shape, out_axis),
        full_in=int(cin), full_out=int(out_shape[out_axis]), groups=groups, depthwise=depthwise,
        weight_shape=w_shape, weight_name=node.inputs[weight_slot], bias_name=bias or None,
        opset=graph.opset)
    spec.tail_shapes.append(TensorSpec(out_shape, out_axis))
    index = {y: 0}
    consumers_inside: set[str] = set()
    for tail_node in tail:
        refs = []
        for slot, name in enumerate(tail_node.inputs):
            if not name:
                refs.append(("none", 0))
            elif name in index:
                refs.append(("tail", index[name]))
                consumers_inside.add(name)
            elif graph.is_constant(name):
                refs.append(("const", len(spec.consts)))
                spec.consts.append(_const_spec(graph, name, tail_node, slot, len(out_shape),
                                               out_axis, spec.full_out))
            else:
                refs.append(("ext", len(spec.externals)))
                shape = _static(graph, name, layer, batch, model_batch)
                pos = _channel_position(len(shape), len(out_shape), out_axis)
                axis = pos if pos is not None and shape[pos] == spec.full_out else None
                spec.externals.append(TensorSpec(shape, axis))
        attrs = _plain_attrs(tail_node.attrs)
        spec.tail.append(TailNode(tail_node.op_type, attrs, refs))
        out = tail_node.outputs[0]
        shape = _static(graph, out, layer, batch, model_batch)
        pos = _channel_position(len(shape), len(out_shape), out_axis)
        index[out] = len(spec.tail_shapes)
        spec.tail_shapes.append(TensorSpec(shape, pos))
    tail_names = {n.name for n in tail}
    spec.outputs = [i for name, i in index.items()
                    if name not in consumers_inside
                    or graph.is_output(name)
                    or any(user.name not in tail_names for user, _ in graph.users(name))]
    return spec


def _const_spec(graph: Graph, name: str, node: Node, slot: int, out_rank: int, out_axis: int,
                channels: int) -> ConstSpec:
    value = graph.const(name)
    if value is None:
        raise TargetError(f"constant {name!r} of {node.name} has no value")
    value = np.asarray(value)
    if node.op_type == "BatchNormalization":
        return ConstSpec(value, 0 if value.ndim == 1 and value.shape[0] == channels else None)
    pos = _channel_position(value.ndim, out_rank, out_axis)
    axis = pos if pos is not None and value.shape[pos] == channels and channels > 1 else None
    return ConstSpec(value, axis)


def _model_batch(graph: Graph):
    for name in graph.inputs:
        shape = graph.shape(name)
        if shape and not graph.is_constant(name):
            return shape[0]
    return None


def _static(graph: Graph, tensor: str, layer: Layer, batch: int | None, model_batch) -> tuple[int, ...]:
    shape = graph.shape(tensor)
    if shape is None or None in shape:
        raise TargetError(f"layer {layer.name}: the shape of {tensor!r} is unknown, a latency "
                          f"table needs static shapes")
    dims = list(shape)
    if dims and (dims[0] == model_batch or isinstance(dims[0], str)):
        dims[0] = batch if batch is not None else (dims[0] if isinstance(dims[0], int) else 1)
    if any(isinstance(d, str) for d in dims):
        raise TargetError(f"layer {layer.name}: {tensor!r} has a symbolic dimension other than "
                          f"the batch ({shape}); export with static shapes")
    return tuple(int(d) for d in dims)


def _plain_attrs(attrs: dict) -> dict:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


def _canonical_attrs(attrs: dict, drop: tuple = ()) -> list:
    return sorted([k, v] for k, v in attrs.items() if k not in drop)


def digest(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _ref_name(ref: tuple[str, int]) -> str:
    kind, i = ref
    return {"tail": f"t{i}", "const": f"c{i}", "ext": f"e{i}", "none": ""}[kind]


def _slice_weight(weight: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(weight[tuple(slice(0, d) for d in shape)]).astype(np.float32)
