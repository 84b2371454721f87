"""Hand-built graphs, each pinning down one channel rule (or one way a rule must refuse).

Every builder takes `opset` and `batch` ("N" for a symbolic batch) and returns a checked
ModelProto. `EDGE_CASES` maps names to builders; tests check each graph's exact groups and
prove random plans on it with the equivalence invariant.
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
}
