"""Hand-built graphs, each pinning down one channel rule (or one way a rule must refuse).

Every builder takes `opset` and `batch` ("N" for a symbolic batch) and returns a checked
ModelProto. `EDGE_CASES` maps names to builders; tests check each graph's exact groups and
prove random plans on it with the equivalence invariant. `DYNAMIC_CASES` (symbolic H and W,
shape values computed at run time) and `THIRD_PARTY_CASES` (what paddle2onnx, ultralytics
and tf2onnx write) are kept apart: their tests prove plans at several input shapes.
"""

from __future__ import annotations

import numpy as np
import onnx

from .builder import GraphBuilder


def _head(b: GraphBuilder, x: str, classes: int = 4) -> str:
    return b.output(b.gemm(b.flatten(b.gap(x)), classes))


def residual_add(opset: int = 17, batch="N") -> onnx.ModelProto:
    """stem -> [conv a -> relu -> conv b] + stem: a bottleneck's inner channels and a
    residual stream tied through the Add."""
    b = GraphBuilder("residual_add", opset, batch)
    stem = b.relu(b.conv(b.input("x", 3), 8, hint="stem"))
    inner = b.relu(b.conv(stem, 6, hint="a"))
    out = b.relu(b.add(b.conv(inner, 8, hint="b"), stem))
    _head(b, out)
    return b.build()


def concat_branches(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Two branches concatenated: the second shows up at an offset of the Concat output."""
    b = GraphBuilder("concat_branches", opset, batch)
    stem = b.relu(b.conv(b.input("x", 3), 8, hint="stem"))
    left = b.relu(b.conv(stem, 4, k=1, hint="left"))
    right = b.relu(b.conv(stem, 6, hint="right"))
    cat = b.concat([left, right])
    _head(b, b.relu(b.conv(cat, 8, hint="post")))
    return b.build()


def split_paths(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A conv's output split 3/5 into two paths that meet again in an Add."""
    b = GraphBuilder("split_paths", opset, batch)
    stem = b.relu(b.conv(b.input("x", 3), 8, hint="stem"))
    p, q = b.split(stem, [3, 5])
    joined = b.add(b.conv(p, 4, hint="p"), b.conv(q, 4, hint="q"))
    _head(b, b.relu(joined))
    return b.build()


def depthwise(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Depthwise conv (ties input to output channels) and one with channel multiplier 2."""
    b = GraphBuilder("depthwise", opset, batch)
    stem = b.relu(b.conv(b.input("x", 3), 8, hint="stem"))
    dw = b.relu(b.conv(stem, 8, group=8, hint="dw"))
    pw = b.relu(b.conv(dw, 6, k=1, hint="pw"))
    dw2 = b.relu(b.conv(pw, 12, group=6, hint="dw_mult2"))
    _head(b, b.relu(b.conv(dw2, 8, k=1, hint="pw2")))
    return b.build()


def grouped_conv(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A conv with 2 groups: both its input and output channels prune in equal blocks."""
    b = GraphBuilder("grouped_conv", opset, batch)
    stem = b.relu(b.conv(b.input("x", 3), 8, hint="stem"))
    grouped = b.relu(b.conv(stem, 12, group=2, hint="grouped"))
    _head(b, b.relu(b.conv(grouped, 6, k=1, hint="pw")))
    return b.build()


def squeeze_excite(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Squeeze-excite: the excitation [N,C,1,1] scales the feature map channel by channel
    (tied to it); the squeeze's hidden units (SiLU, as x * sigmoid(x)) are a group of their
    own, not a graph cut."""
    b = GraphBuilder("squeeze_excite", opset, batch)
    feat = b.relu(b.conv(b.input("x", 3), 8, hint="stem"))
    squeezed = b.conv(b.gap(feat), 2, k=1, hint="se_reduce")
    hidden = b.mul(squeezed, b.act("Sigmoid", squeezed))
    scale = b.act("Sigmoid", b.conv(hidden, 8, k=1, hint="se_expand"))
    _head(b, b.relu(b.conv(b.mul(feat, scale), 6, k=1, hint="post")))
    return b.build()


def flatten_gemm(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Flatten of a 4x4 map into a Gemm: each channel is a block of 16 features."""
    b = GraphBuilder("flatten_gemm", opset, batch)
    x = b.relu(b.conv(b.input("x", 3, (4, 4)), 5, hint="conv"))
    b.output(b.gemm(b.flatten(x), 4))
    return b.build()


def shared_bias(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Two convs reading one bias initializer: their channels must stay independent, and
    slicing one must not slice the other's."""
    b = GraphBuilder("shared_bias", opset, batch)
    bias = b.const(np.linspace(-0.5, 0.5, 8).astype(np.float32), "shared_bias")
    x = b.relu(b.conv(b.input("x", 3), 8, bias=bias, hint="c1"))
    x = b.relu(b.conv(x, 8, bias=bias, hint="c2"))
    _head(b, b.relu(b.conv(x, 6, hint="c3")))
    return b.build()


def conv_no_bias(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Convs without a bias input (as the dynamo exporter writes them), with BN after."""
    b = GraphBuilder("conv_no_bias", opset, batch)
    x = b.relu(b.bn(b.conv(b.input("x", 3), 8, bias=False, hint="c1")))
    x = b.relu(b.bn(b.conv(x, 6, bias=False, hint="c2")))
    _head(b, x)
    return b.build()


def no_rule(opset: int = 17, batch="N") -> onnx.ModelProto:
    """An op halp_graph has no channel rule for (CumSum): what it touches is frozen."""
    b = GraphBuilder("no_rule", opset, batch)
    x = b.relu(b.conv(b.input("x", 3), 8, hint="c1"))
    y = b.op("CumSum", [x, b.const(np.array(3, np.int64), "axis")])
    x = b.relu(b.conv(y, 6, hint="c2"))
    _head(b, x)
    return b.build()


def channel_softmax(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Softmax over the channel axis: every channel's value depends on all the others."""
    b = GraphBuilder("channel_softmax", opset, batch)
    x = b.conv(b.input("x", 3), 8, hint="c1")
    x = b.softmax(x, axis=1)
    _head(b, b.relu(b.conv(x, 6, hint="c2")))
    return b.build()


def slice_channels(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A Slice taking channels 2..6 of 8: the conv's channels split into three groups."""
    b = GraphBuilder("slice_channels", opset, batch)
    x = b.relu(b.conv(b.input("x", 3), 8, hint="c1"))
    s = b.slice(x, 2, 6)
    y = b.add(b.conv(s, 8, k=1, hint="c2"), x)
    _head(b, b.relu(y))
    return b.build()


def reshape_into_gemm(opset: int = 17, batch=1) -> onnx.ModelProto:
    """Reshape to [N, C*H*W] with a constant target (what view() exports at fixed batch)."""
    b = GraphBuilder("reshape_into_gemm", opset, batch)
    x = b.relu(b.conv(b.input("x", 3, (4, 4)), 5, hint="conv"))
    flat = b.reshape(x, [batch if isinstance(batch, int) else -1, 5 * 16], [batch, 80])
    b.output(b.gemm(flat, 4))
    return b.build()


def concat_flatten_gemm(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Two flattened branches of different spatial size concatenated into one Gemm."""
    b = GraphBuilder("concat_flatten_gemm", opset, batch)
    x = b.input("x", 3, (4, 4))
    a = b.flatten(b.relu(b.conv(x, 3, hint="a")))
    c = b.flatten(b.relu(b.conv(x, 4, stride=2, hint="c")))
    b.output(b.gemm(b.concat([a, c]), 5))
    return b.build()


def transformer_mlp(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A transformer MLP on tokens: MatMul -> Add -> Gelu (as exporters decompose it) ->
    MatMul -> Add, plus the residual. The hidden dimension is a group; the model width,
    a graph input, stays frozen."""
    b = GraphBuilder("transformer_mlp", opset, batch)
    x = b.input_tensor("tokens", [batch, 5, 8])
    h = b.matmul(x, 16)
    if opset >= 20:
        h = b.act("Gelu", h)
    else:  # 0.5 * h * (1 + erf(h / sqrt(2)))
        e = b.act("Erf", b.op("Div", [h, b.const(np.array(np.sqrt(2), np.float32))]))
        h = b.mul(b.mul(h, b.op("Add", [e, b.const(np.array(1.0, np.float32))])),
                  b.const(np.array(0.5, np.float32)))
    y = b.add(b.matmul(h, 8), x)
    b.output(y)
    return b.build()


def conv_transpose(opset: int = 17, batch="N") -> onnx.ModelProto:
    """An upsampling ConvTranspose: input channels on its weight's axis 0."""
    b = GraphBuilder("conv_transpose", opset, batch)
    x = b.relu(b.conv(b.input("x", 3), 6, stride=2, hint="down"))
    x = b.relu(b.conv_transpose(x, 5))
    _head(b, b.relu(b.conv(x, 4, hint="post")))
    return b.build()


def pools_and_resize(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Pass-through ops on the channel axis: MaxPool, AveragePool, Pad, Resize, Clip."""
    b = GraphBuilder("pools_and_resize", opset, batch)
    x = b.relu(b.conv(b.input("x", 3), 8, hint="c1"))
    n = b.shapes[x][0]
    x = b.op("MaxPool", [x], [n, 8, 4, 4], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("Pad", [x, b.ints([0, 0, 1, 1, 0, 0, 1, 1])], [n, 8, 6, 6], mode="constant")
    x = b.op("AveragePool", [x], [n, 8, 3, 3], kernel_shape=[2, 2], strides=[2, 2])
    roi = b.const(np.array([], np.float32), "roi")
    x = b.op("Resize", [x, roi, b.const(np.array([1, 1, 2, 2], np.float32))], [n, 8, 6, 6], mode="nearest")
    x = b.op("Clip", [x, b.const(np.array(0, np.float32)), b.const(np.array(6, np.float32))])
    _head(b, b.conv(x, 6, hint="c2"))
    return b.build()


def spatial_attention(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A one-channel attention map [N,1,H,W] scales C channels: broadcast, not a tie."""
    b = GraphBuilder("spatial_attention", opset, batch)
    x = b.relu(b.conv(b.input("x", 3), 8, hint="c1"))
    att = b.act("Sigmoid", b.conv(x, 1, hint="att"))
    _head(b, b.relu(b.conv(b.mul(x, att), 6, hint="c2")))
    return b.build()


def weight_standardized(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A conv whose weight is standardised at run time from constants: both channel axes
    are followed back to the initializers. The statistics read the stored weight itself (a
    per-use constant), so they keep their values when channels go, exactly as in the
    channel-masked model. (NF-ResNet's batch-norm-in-training-mode standardisation reads a
    reshaped copy instead, and is frozen.)"""
    b = GraphBuilder("weight_standardized", opset, batch)
    x = b.relu(b.conv(b.input("x", 3), 8, hint="c1"))
    w = b.const(b.weights((6, 8, 3, 3), 72), "std_w")
    mean = b.reduce_mean(w, [1, 2, 3])
    gain = b.const((0.5 + b.rng.random((6, 1, 1, 1))).astype(np.float32), "gain")
    w_std = b.mul(b.op("Sub", [w, mean], [6, 8, 3, 3]), gain)
    n, _, h, wd = b.shapes[x]
    y = b.relu(b.op("Conv", [x, w_std], [n, 6, h, wd], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    _head(b, y)
    return b.build()


def weight_batchnorm_standardized(opset: int = 17, batch="N") -> onnx.ModelProto:
    """timm's NF-ResNet standardisation: the weight reshaped to [1, out, in*k*k] and
    normalised by BatchNormalization in training mode. Its output channels are per-channel
    there and prunable; its input channels feed the statistics and are frozen."""
    b = GraphBuilder("weight_batchnorm_standardized", opset, batch)
    x = b.relu(b.conv(b.input("x", 3), 8, hint="c1"))
    w = b.reshape(b.const(b.weights((6, 8, 3, 3), 72), "nf_w"), [1, 6, -1], [1, 6, 72])
    ones, zeros = np.ones(6, np.float32), np.zeros(6, np.float32)
    params = [w, b.const(ones, "g"), b.const(zeros, "b"), b.const(zeros, "m"), b.const(ones, "v")]
    if opset >= 14:
        w = b.op("BatchNormalization", params, n_out=3, epsilon=1e-5, training_mode=1,
                 shapes=[[1, 6, 72], [6], [6]])[0]
    else:  # before opset 14, training mode is spelled by asking for the statistics outputs
        w = b.op("BatchNormalization", params, n_out=5, epsilon=1e-5,
                 shapes=[[1, 6, 72]] + [[6]] * 4)[0]
    w = b.reshape(w, [6, 8, 3, 3], [6, 8, 3, 3])
    n, _, h, wd = b.shapes[x]
    y = b.relu(b.op("Conv", [x, w], [n, 6, h, wd], kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    _head(b, y)
    return b.build()


def folded_constant_input(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A constant where an activation would be: a positional encoding that the exporter
    folded into an initializer, projected by a 1x1 conv and added to the stream (timm's
    XCiT under the dynamo exporter). Its channels are a group with the conv's input axis."""
    b = GraphBuilder("folded_constant_input", opset, batch)
    stem = b.relu(b.conv(b.input("x", 3), 8, hint="stem"))
    _, _, h, w = b.shapes[stem]
    pos = b.const(b.rng.standard_normal((1, 6, h, w)).astype(np.float32), "pos_fourier")
    projected = b.conv(pos, 8, k=1, hint="pos_proj")
    _head(b, b.relu(b.conv(b.add(stem, projected), 8, hint="post")))
    return b.build()


EDGE_CASES = {
    "residual_add": residual_add,
    "concat_branches": concat_branches,
    "split_paths": split_paths,
    "depthwise": depthwise,
    "grouped_conv": grouped_conv,
    "squeeze_excite": squeeze_excite,
    "flatten_gemm": flatten_gemm,
    "shared_bias": shared_bias,
    "conv_no_bias": conv_no_bias,
    "no_rule": no_rule,
    "channel_softmax": channel_softmax,
    "slice_channels": slice_channels,
    "reshape_into_gemm": reshape_into_gemm,
    "concat_flatten_gemm": concat_flatten_gemm,
    "transformer_mlp": transformer_mlp,
    "conv_transpose": conv_transpose,
    "pools_and_resize": pools_and_resize,
    "spatial_attention": spatial_attention,
    "weight_standardized": weight_standardized,
    "weight_batchnorm_standardized": weight_batchnorm_standardized,
    "folded_constant_input": folded_constant_input,
}


# --------------------------------------------------------------------- dynamic axes
# Every graph below takes x: [N, 3, H, W] with N, H and W symbolic and computes its shape
# values at run time, as exporters write them with dynamic axes. DYNAMIC_CASES lists them;
# they are kept out of EDGE_CASES, whose users run every case at a fixed size.

def _dyn_input(b: GraphBuilder, channels: int = 3) -> str:
    return b.input_tensor("x", [b.batch, channels, "H", "W"])


def _dconv(b: GraphBuilder, x: str, cout: int, k: int = 3, stride: int = 1, group: int = 1,
           hint: str = "conv") -> str:
    """A conv that keeps symbolic sizes symbolic ("same" padding at stride 1)."""
    n, cin, h, w = b.shapes[x]
    inputs = [x, b.const(b.weights((cout, cin // group, k, k), cin // group * k * k), f"{hint}_w"),
              b.const((0.1 * b.rng.standard_normal(cout)).astype(np.float32), f"{hint}_b")]
    hw = [h, w] if stride == 1 else [None, None]
    return b.op("Conv", inputs, [n, cout, *hw], hint=hint, kernel_shape=[k, k], pads=[k // 2] * 4,
                strides=[stride, stride], group=group)


def _shape(b: GraphBuilder, x: str, start: int = 0, end: int | None = None) -> str:
    """Shape(x)[start:end] as a 1-D int64 tensor (Shape, then Slice, as exporters write it)."""
    rank = len(b.shapes[x])
    full = b.op("Shape", [x], [rank])
    end = rank if end is None else end
    if (start, end) == (0, rank):
        return full
    return b.op("Slice", [full, b.ints([start]), b.ints([end]), b.ints([0])], [end - start])


def _dim(b: GraphBuilder, x: str, axis: int) -> str:
    """Shape(x)[axis] as a 1-element vector (Shape -> Gather)."""
    return b.op("Gather", [b.op("Shape", [x], [len(b.shapes[x])]), b.ints([axis])], [1], axis=0)


def _cat(b: GraphBuilder, parts: list[str]) -> str:
    return b.op("Concat", parts, [sum(b.shapes[p][0] for p in parts)], axis=0)


def _unsqueeze(b: GraphBuilder, x: str, axes: list[int], shape: list) -> str:
    if b.opset >= 13:
        return b.op("Unsqueeze", [x, b.ints(axes)], shape)
    return b.op("Unsqueeze", [x], shape, axes=axes)


def _reduce(b: GraphBuilder, op: str, x: str, axes: list[int], shape: list) -> str:
    if b.opset >= 18 or op == "ReduceSum" and b.opset >= 13:
        return b.op(op, [x, b.ints(axes)], shape, keepdims=1)
    return b.op(op, [x], shape, axes=axes, keepdims=1)


def dynamic_reshape(opset: int = 17, batch="N") -> onnx.ModelProto:
    """[N, 8, H, W] -> [N, 8, H*W] with the target computed as Concat(Shape[0], 8,
    Shape[2]*Shape[3]), a spatial softmax, back with Reshape(Shape(y)); then a 0/-1
    target [0, 8, -1]."""
    b = GraphBuilder("dynamic_reshape", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    n, _, h, w = b.shapes[y]
    area = b.op("Mul", [_dim(b, y, 2), _dim(b, y, 3)], [1])
    flat = b.op("Reshape", [y, _cat(b, [_dim(b, y, 0), b.ints([8]), area])], [n, 8, None])
    back = b.op("Reshape", [b.softmax(flat, axis=2), b.op("Shape", [y], [4])], [n, 8, h, w])
    z = b.mul(back, y)
    peak = _reduce(b, "ReduceMax", b.op("Reshape", [z, b.ints([0, 8, -1])], [n, 8, None]), [2], [n, 8, 1])
    z = b.mul(z, _unsqueeze(b, peak, [3], [n, 8, 1, 1]))
    _head(b, b.relu(_dconv(b, z, 6, hint="c2")))
    return b.build()


def dynamic_split(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Channels split 3/5; from opset 13 the second part is also split along H in halves
    whose sizes are computed from Shape (and concatenated back)."""
    b = GraphBuilder("dynamic_split", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    n, _, h, w = b.shapes[y]
    p, q = b.split(y, [3, 5])
    if opset >= 13:
        rows = _dim(b, q, 2)
        half = b.op("Div", [rows, b.ints([2])], [1])
        sizes = _cat(b, [half, b.op("Sub", [rows, half], [1])])
        top, bottom = b.op("Split", [q, sizes], n_out=2, shapes=[[n, 5, None, w]] * 2, axis=2)
        q = b.op("Concat", [bottom, top], [n, 5, h, w], axis=2)
    out = b.add(_dconv(b, p, 4, hint="p"), _dconv(b, q, 4, hint="q"))
    _head(b, b.relu(out))
    return b.build()


def dynamic_slice(opset: int = 17, batch="N") -> onnx.ModelProto:
    """One Slice over two axes: channels 2..6 (constant) and rows 1..H-1 (the end computed
    from Shape); then channels 5..end (INT_MAX)."""
    b = GraphBuilder("dynamic_slice", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    n, _, h, w = b.shapes[y]
    ends = _cat(b, [b.ints([6]), b.op("Sub", [_dim(b, y, 2), b.ints([1])], [1])])
    s = b.op("Slice", [y, b.ints([2, 1]), ends, b.ints([1, 2])], [n, 4, None, w])
    tail = b.op("Slice", [y, b.ints([5]), b.ints([2**63 - 1]), b.ints([1])], [n, 3, h, w])
    _head(b, b.relu(b.concat([b.gap(_dconv(b, s, 6, hint="c2")), b.gap(_dconv(b, tail, 2, hint="c3"))])))
    return b.build()


def dynamic_resize(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Resize by scales [1, 1, 2, 2], and Resize to sizes computed as
    Concat(Shape(y)[0:2], Shape(y)[2:4] * 2) (F.interpolate(size=...))."""
    b = GraphBuilder("dynamic_resize", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    n = b.shapes[y][0]
    roi = b.const(np.array([], np.float32), "roi")
    by_scale = b.op("Resize", [y, roi, b.const(np.array([1, 1, 2, 2], np.float32), "scales")],
                    [n, 8, None, None], mode="nearest")
    sizes = _cat(b, [_shape(b, y, 0, 2), b.op("Mul", [_shape(b, y, 2, 4), b.ints([2])], [2])])
    no_scales = b.const(np.array([], np.float32), "no_scales") if opset < 13 else ""
    by_size = b.op("Resize", [y, roi, no_scales, sizes], [n, 8, None, None], mode="nearest")
    _head(b, b.relu(_dconv(b, b.add(by_scale, by_size), 6, hint="c2")))
    return b.build()


def dynamic_expand(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A per-channel constant [1, 8, 1, 1] expanded to Shape(y), and another expanded to
    Concat(Shape(y)[0:1], 8, Shape(y)[2:4]) with the channel count spelled out."""
    b = GraphBuilder("dynamic_expand", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    shape = list(b.shapes[y])
    bias = b.const(b.rng.standard_normal((1, 8, 1, 1)).astype(np.float32), "bias")
    gain = b.const((0.5 + b.rng.random((1, 8, 1, 1))).astype(np.float32), "gain")
    target = _cat(b, [_shape(b, y, 0, 1), b.ints([8]), _shape(b, y, 2, 4)])
    z = b.mul(b.add(y, b.op("Expand", [bias, b.op("Shape", [y], [4])], shape)),
              b.op("Expand", [gain, target], shape))
    _head(b, b.relu(_dconv(b, z, 6, hint="c2")))
    return b.build()


def dynamic_constant_of_shape(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A constant tensor built at run time from Concat(Shape(y)[0:1], 8, Shape(y)[2:4]) and
    added to y: its channel axis joins y's group."""
    b = GraphBuilder("dynamic_constant_of_shape", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    target = _cat(b, [_shape(b, y, 0, 1), b.ints([8]), _shape(b, y, 2, 4)])
    fill = onnx.numpy_helper.from_array(np.array([0.5], np.float32))
    c = b.op("ConstantOfShape", [target], list(b.shapes[y]), value=fill)
    _head(b, b.relu(_dconv(b, b.add(y, c), 6, hint="c2")))
    return b.build()


def dynamic_tile(opset: int = 17, batch="N") -> onnx.ModelProto:
    """The pooled [N, 8, 1, 1] tiled back to H x W with repeats Concat(1, 1, Shape(y)[2:4])."""
    b = GraphBuilder("dynamic_tile", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    repeats = _cat(b, [b.ints([1, 1]), _shape(b, y, 2, 4)])
    tiled = b.op("Tile", [b.gap(y), repeats], list(b.shapes[y]))
    _head(b, b.relu(_dconv(b, b.op("Sub", [y, tiled]), 6, hint="c2")))
    return b.build()


def dynamic_shape_arithmetic(opset: int = 17, batch="N") -> onnx.ModelProto:
    """The channel count used as a number: y / sqrt(C) with C = Shape(y)[1] (an attention
    scale), and y * (N*H*W / Size(y)) = y / C. The pruned model must keep dividing by the
    original C, as the channel-masked model does."""
    b = GraphBuilder("dynamic_shape_arithmetic", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    channels = b.op("Gather", [b.op("Shape", [y], [4]), b.ints(1)], [], axis=0)
    scale = b.op("Sqrt", [b.op("Cast", [channels], [], to=onnx.TensorProto.FLOAT)])
    z = b.op("Div", [y, scale])
    positions = b.op("Mul", [_dim(b, y, 0), b.op("Mul", [_dim(b, y, 2), _dim(b, y, 3)], [1])], [1])
    ratio = b.op("Div", [positions, b.op("Size", [y], [])], [1])  # integer: 0 unless C == 1
    per = b.op("Div", [b.op("Size", [y], []), positions], [1])  # C
    inv = b.op("Reciprocal", [b.op("Cast", [b.op("Add", [per, ratio], [1])], [1], to=onnx.TensorProto.FLOAT)])
    _head(b, b.relu(_dconv(b, b.mul(z, inv), 6, hint="c2")))
    return b.build()


def shape_into_output(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Shape(y) is a graph output: y's channel count is part of the interface (frozen)."""
    b = GraphBuilder("shape_into_output", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    b.output(b.op("Shape", [y], [4]))
    b.outputs[-1].type.tensor_type.elem_type = onnx.TensorProto.INT64
    _head(b, b.relu(_dconv(b, y, 6, hint="c2")))
    return b.build()


def shape_through_computed_index(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Shape(y)[k] with k a graph input: which dimension it reads is known only at run
    time, so the channel count cannot be told apart (frozen)."""
    b = GraphBuilder("shape_through_computed_index", opset, batch)
    y = b.relu(_dconv(b, _dyn_input(b), 8, hint="c1"))
    k = b.input_tensor("k", [1])
    b.inputs[-1].type.tensor_type.elem_type = onnx.TensorProto.INT64
    picked = b.op("Gather", [b.op("Shape", [y], [4]), k], [1], axis=0)
    z = b.op("Mul", [y, b.op("Cast", [picked], [1], to=onnx.TensorProto.FLOAT)])
    _head(b, b.relu(_dconv(b, z, 6, hint="c2")))
    return b.build()


def _deconv(b: GraphBuilder, x: str, cout: int, k: int = 2, stride: int = 2, group: int = 1,
            hint: str = "deconv") -> str:
    """ConvTranspose, weight [in, out/group, k, k], output size unknown to the builder."""
    n, cin = b.shapes[x][:2]
    w = b.const(b.weights((cin, cout // group, k, k), cin // group * k * k), f"{hint}_w")
    bias = b.const((0.1 * b.rng.standard_normal(cout)).astype(np.float32), f"{hint}_b")
    return b.op("ConvTranspose", [x, w, bias], [n, cout, None, None], kernel_shape=[k, k],
                strides=[stride, stride], group=group, hint=hint)


def dynamic_emptied_branches(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Two branches off a stride-2 stem, concatenated: a 3x3 pair, and a stride-2 conv
    up-sampled by a ConvTranspose and resized to the stem's size. Emptying a branch's
    inner channels folds its last layer to a constant whose shape (symbolic, through the
    convs' arithmetic) the rewrite must compute at run time."""
    b = GraphBuilder("dynamic_emptied_branches", opset, batch)
    stem = b.relu(_dconv(b, _dyn_input(b), 8, stride=2, hint="stem"))
    a = _dconv(b, b.relu(_dconv(b, stem, 4, hint="a_in")), 6, hint="a_out")
    c = _deconv(b, b.relu(_dconv(b, stem, 4, stride=2, hint="c_in")), 6, hint="c_up")
    sizes = _cat(b, [_shape(b, c, 0, 2), _shape(b, stem, 2, 4)])
    no_scales = b.const(np.array([], np.float32), "no_scales") if opset < 13 else ""
    roi = b.const(np.array([], np.float32), "roi")
    c = b.op("Resize", [c, roi, no_scales, sizes], list(b.shapes[a]), mode="nearest")
    _head(b, b.relu(_dconv(b, b.concat([a, c]), 6, hint="post")))
    return b.build()


DYNAMIC_CASES = {
    "dynamic_reshape": dynamic_reshape,
    "dynamic_split": dynamic_split,
    "dynamic_slice": dynamic_slice,
    "dynamic_resize": dynamic_resize,
    "dynamic_expand": dynamic_expand,
    "dynamic_constant_of_shape": dynamic_constant_of_shape,
    "dynamic_tile": dynamic_tile,
    "dynamic_shape_arithmetic": dynamic_shape_arithmetic,
    "dynamic_emptied_branches": dynamic_emptied_branches,
}


# ------------------------------------------------------------ third-party patterns
# What exporters outside torchvision write (paddle2onnx OCR models, ultralytics YOLOv8,
# tf2onnx): THIRD_PARTY_CASES, symbolic N, H, W like DYNAMIC_CASES.

def activations(opset: int = 17, batch="N") -> onnx.ModelProto:
    """Conv chains through HardSigmoid, HardSwish (x * HardSigmoid(x) before opset 14, as
    exporters write it), LeakyRelu, PRelu with a per-channel slope [C, 1, 1] (a parameter
    of the group) and PRelu with one shared slope."""
    b = GraphBuilder("activations", opset, batch)
    x = b.act("HardSigmoid", _dconv(b, _dyn_input(b), 8, hint="c1"), alpha=0.2, beta=0.5)
    y = _dconv(b, x, 8, hint="c2")
    x = b.act("HardSwish", y) if opset >= 14 else b.mul(y, b.act("HardSigmoid", y, alpha=1 / 6, beta=0.5))
    x = b.act("LeakyRelu", _dconv(b, x, 8, hint="c3"), alpha=0.1)
    slope = b.const((0.1 + 0.2 * b.rng.random((8, 1, 1))).astype(np.float32), "slope")
    x = b.op("PRelu", [_dconv(b, x, 8, hint="c4"), slope])
    x = b.op("PRelu", [_dconv(b, x, 6, hint="c5"), b.const(np.array([0.25], np.float32), "shared_slope")])
    _head(b, x)
    return b.build()


def conv_transpose_head(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A DBNet-style up-sampling head: ConvTranspose (weight [in, out, k, k]) with BN and
    ReLU, a depthwise ConvTranspose with multiplier 2 (weight [in, 2, k, k]), then a 1x1
    conv to one channel and Sigmoid, a probability map as the graph output."""
    b = GraphBuilder("conv_transpose_head", opset, batch)
    stem = b.relu(b.bn(_dconv(b, _dyn_input(b), 8, stride=2, hint="stem")))
    stem = b.relu(b.bn(_dconv(b, stem, 8, stride=2, hint="down")))
    up = b.relu(b.bn(_deconv(b, stem, 6, hint="up")))
    up = b.relu(_deconv(b, up, 12, group=6, hint="dw_up"))
    b.output(b.act("Sigmoid", _dconv(b, up, 1, k=1, hint="prob")))
    return b.build()


def grouped_conv_transpose(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A ConvTranspose with 2 groups (neither plain nor depthwise): its channels stay frozen."""
    b = GraphBuilder("grouped_conv_transpose", opset, batch)
    x = b.relu(_dconv(b, _dyn_input(b), 8, stride=2, hint="c1"))
    _head(b, b.relu(_dconv(b, b.relu(_deconv(b, x, 6, group=2, hint="g_up")), 4, hint="c2")))
    return b.build()


def _yolo_level(b: GraphBuilder, feat: str, classes: int, reg_max: int, level: int) -> str:
    """One level of a YOLOv8 head: box and class branches, concatenated and flattened to
    [N, 4*reg_max + classes, H*W] (Reshape to Concat(Shape[0], C, -1))."""
    box = _dconv(b, b.act("Relu", _dconv(b, feat, 8, hint=f"box{level}_h")), 4 * reg_max, k=1, hint=f"box{level}")
    cls = _dconv(b, b.act("Relu", _dconv(b, feat, 8, hint=f"cls{level}_h")), classes, k=1, hint=f"cls{level}")
    cat = b.concat([box, cls])
    n, c = b.shapes[cat][:2]
    target = _cat(b, [_shape(b, cat, 0, 1), b.ints([c, -1])])
    return b.op("Reshape", [cat, target], [n, c, None])


def yolo_head(opset: int = 17, batch="N") -> onnx.ModelProto:
    """YOLOv8's detect head over two levels: per level Concat(box, cls) -> Reshape
    [N, no, -1]; the levels concatenated along the anchors; Split into box and class
    channels; DFL: Reshape [N, 4, reg_max, A] -> Transpose -> Softmax over the bins -> a
    fixed 1x1 conv (weights 0..reg_max-1) -> Reshape [N, 4, A]; outputs Concat(box,
    Sigmoid(cls)). Needs opset 13 (Softmax over one axis)."""
    b = GraphBuilder("yolo_head", opset, batch)
    classes, reg_max = 3, 4
    p1 = b.relu(_dconv(b, _dyn_input(b), 8, stride=2, hint="p1"))
    p2 = b.relu(_dconv(b, p1, 8, stride=2, hint="p2"))
    levels = [_yolo_level(b, p, classes, reg_max, i) for i, p in enumerate((p1, p2))]
    n, no = b.shapes[levels[0]][:2]
    flat = b.op("Concat", levels, [n, no, None], axis=2)
    box, cls = b.split(flat, [4 * reg_max, classes])
    bins = b.op("Reshape", [box, _cat(b, [_shape(b, box, 0, 1), b.ints([4, reg_max]), _shape(b, box, 2, 3)])],
                [n, 4, reg_max, None])
    bins = b.softmax(b.op("Transpose", [bins], [n, reg_max, 4, None], perm=[0, 2, 1, 3]), axis=1)
    dfl_w = b.const(np.arange(reg_max, dtype=np.float32).reshape(1, reg_max, 1, 1), "dfl_w")
    dist = b.op("Conv", [bins, dfl_w], [n, 1, 4, None], kernel_shape=[1, 1])
    dist = b.op("Reshape", [dist, _cat(b, [_shape(b, dist, 0, 1), b.ints([4]), _shape(b, dist, 3, 4)])], [n, 4, None])
    b.output(b.op("Concat", [dist, b.act("Sigmoid", cls)], [n, 4 + classes, None], axis=1))
    return b.build()


def nhwc_convs(opset: int = 17, batch="N") -> onnx.ModelProto:
    """A tf2onnx graph: NHWC input, every conv and pool wrapped in Transposes, BN written
    as Mul/Add with [C] constants along the last axis, a depthwise conv, and a global
    mean over H, W into MatMul."""
    b = GraphBuilder("nhwc_convs", opset, batch)
    x = b.input_tensor("x", [batch, "H", "W", 3])

    def nchw(t):
        n, h, w, c = b.shapes[t]
        return b.op("Transpose", [t], [n, c, h, w], perm=[0, 3, 1, 2])

    def nhwc(t):
        n, c, h, w = b.shapes[t]
        return b.op("Transpose", [t], [n, h, w, c], perm=[0, 2, 3, 1])

    def affine(t, hint):
        c = b.shapes[t][-1]
        scale = b.const((0.5 + b.rng.random(c)).astype(np.float32), f"{hint}_scale")
        shift = b.const((0.1 * b.rng.standard_normal(c)).astype(np.float32), f"{hint}_shift")
        return b.relu(b.add(b.mul(t, scale), shift))

    y = affine(nhwc(_dconv(b, nchw(x), 8, hint="c1")), "bn1")
    y = affine(nhwc(_dconv(b, nchw(y), 8, group=8, hint="dw")), "bn2")
    n = b.shapes[y][0]
    pooled = nchw(y)
    pooled = nhwc(b.op("MaxPool", [pooled], [n, 8, None, None], kernel_shape=[2, 2], strides=[2, 2]))
    y = affine(nhwc(_dconv(b, nchw(pooled), 6, k=1, hint="pw")), "bn3")
    mean = b.op("ReduceMean", [y, b.ints([1, 2])] if opset >= 18 else [y], [n, 6],
                keepdims=0, **({} if opset >= 18 else {"axes": [1, 2]}))
    b.output(b.matmul(mean, 4))
    return b.build()


def as_constant_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same model with every initializer turned into a Constant node (paddle2onnx
    writes weights that way): one node per weight, shared ones included."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    consts = [onnx.helper.make_node("Constant", [], [t.name], name=f"const_{t.name}", value=t)
              for t in g.initializer]
    nodes = consts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    del g.initializer[:]
    onnx.checker.check_model(out, full_check=True)
    return out


THIRD_PARTY_CASES = {
    "activations": activations,
    "conv_transpose_head": conv_transpose_head,
    "grouped_conv_transpose": grouped_conv_transpose,
    "yolo_head": yolo_head,
    "nhwc_convs": nhwc_convs,
}
