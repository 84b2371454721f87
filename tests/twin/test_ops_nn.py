"""Conv, ConvTranspose, Gemm, MatMul, Einsum, pooling and normalization: twin == ORT."""

from __future__ import annotations

import numpy as np
import pytest

from .single_op import Init, check_op, randn

X = randn(2, 4, 9, 8)


def w(*shape, seed=1):
    return Init(randn(*shape, seed=seed))


@pytest.mark.parametrize("attrs,wshape,bias", [
    ({}, (6, 4, 3, 3), True),
    ({"pads": [1, 1, 1, 1]}, (6, 4, 3, 3), True),
    ({"pads": [0, 1, 2, 1], "strides": [2, 1]}, (6, 4, 3, 3), False),
    ({"dilations": [2, 1], "pads": [2, 1, 2, 1]}, (6, 4, 3, 3), True),
    ({"group": 2}, (6, 2, 3, 3), True),
    ({"group": 4}, (4, 1, 3, 3), True),
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]}, (6, 4, 4, 4), True),
    ({"auto_pad": "SAME_LOWER", "strides": [2, 2]}, (6, 4, 4, 4), True),
    ({"auto_pad": "VALID", "strides": [2, 3]}, (6, 4, 3, 3), True),
    ({"kernel_shape": [1, 1]}, (6, 4, 1, 1), False),
])
@pytest.mark.parametrize("opset", [11, 21])
def test_conv2d(attrs, wshape, bias, opset):
    inputs = [X, w(*wshape)] + ([w(wshape[0], seed=2)] if bias else [])
    check_op("Conv", inputs, attrs, opset)


def test_conv1d_and_3d():
    check_op("Conv", [randn(2, 3, 11), w(5, 3, 3)], {"pads": [2, 1], "strides": [2]})
    check_op("Conv", [randn(1, 2, 5, 6, 7), w(3, 2, 3, 3, 3), w(3, seed=3)], {"pads": [1, 0, 1, 1, 0, 1]})


@pytest.mark.parametrize("attrs,wshape", [
    ({}, (4, 3, 3, 3)),
    ({"strides": [2, 2]}, (4, 3, 3, 3)),
    ({"strides": [2, 2], "pads": [1, 0, 1, 1]}, (4, 3, 3, 3)),
    ({"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}, (4, 3, 3, 3)),
    ({"strides": [2, 2], "output_shape": [19, 16]}, (4, 3, 3, 3)),
    ({"strides": [2, 2], "auto_pad": "SAME_UPPER"}, (4, 3, 3, 3)),
    ({"group": 2, "strides": [2, 1]}, (4, 2, 2, 2)),
    ({"dilations": [2, 2]}, (4, 3, 3, 3)),
])
@pytest.mark.parametrize("opset", [11, 17])
def test_conv_transpose(attrs, wshape, opset):
    check_op("ConvTranspose", [X, w(*wshape), w(wshape[1] * attrs.get("group", 1), seed=2)], attrs, opset)


@pytest.mark.parametrize("attrs,a,b,c", [
    ({}, (3, 5), (5, 4), (4,)),
    ({"transB": 1}, (3, 5), (4, 5), (3, 4)),
    ({"transA": 1, "alpha": 0.5, "beta": 2.0}, (5, 3), (5, 4), (1, 4)),
    ({"transA": 1, "transB": 1}, (5, 3), (4, 5), None),
])
def test_gemm(attrs, a, b, c):
    inputs = [randn(*a), w(*b)] + ([w(*c, seed=3)] if c else [])
    check_op("Gemm", inputs, attrs, opset=13)


@pytest.mark.parametrize("a,b", [((3, 5), (5, 4)), ((2, 3, 5), (5, 4)), ((2, 2, 3, 5), (2, 2, 5, 4)),
                                 ((2, 1, 3, 5), (3, 5, 4)), ((5,), (2, 5, 4)), ((2, 3, 5), (5,))])
def test_matmul(a, b):
    check_op("MatMul", [randn(*a), randn(*b, seed=1)], opset=13)


@pytest.mark.parametrize("eq,shapes", [("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
                                       ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
                                       ("ij->ji", [(3, 4)]), ("i,i", [(5,), (5,)])])
def test_einsum(eq, shapes):
    check_op("Einsum", [randn(*s, seed=i) for i, s in enumerate(shapes)], {"equation": eq}, opset=12)


POOLS = [
    {"kernel_shape": [3, 3]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 0, 1, 1], "ceil_mode": 1},
    {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [0, 1, 1, 0]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"},
    {"kernel_shape": [2, 2], "strides": [3, 3], "auto_pad": "VALID"},
]


@pytest.mark.parametrize("attrs", POOLS + [{"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [1, 2, 1, 2]}])
@pytest.mark.parametrize("opset", [11, 12, 18])
def test_max_pool(attrs, opset):
    check_op("MaxPool", [X], attrs, opset)


def test_max_pool_1d_and_indices():
    check_op("MaxPool", [randn(2, 3, 10)], {"kernel_shape": [3], "strides": [2], "pads": [1, 1]})
    check_op("MaxPool", [X], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}, n_out=2)
    check_op("MaxPool", [X], {"kernel_shape": [2, 2], "strides": [2, 2]}, n_out=2)


@pytest.mark.parametrize("attrs", POOLS)
@pytest.mark.parametrize("include", [0, 1])
@pytest.mark.parametrize("opset", [11, 19])
def test_average_pool(attrs, include, opset):
    check_op("AveragePool", [X], dict(attrs, count_include_pad=include), opset)


def test_average_pool_dilations_opset19():
    check_op("AveragePool", [X], {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 1, 1, 1]}, opset=19)
    check_op("AveragePool", [randn(2, 3, 10)], {"kernel_shape": [3], "strides": [2], "pads": [1, 1]})


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool(p):
    check_op("LpPool", [X], {"kernel_shape": [2, 2], "strides": [2, 2], "p": p}, opset=18)
    check_op("GlobalLpPool", [X], {"p": p}, opset=13)


@pytest.mark.parametrize("op_type", ["GlobalAveragePool", "GlobalMaxPool"])
def test_global_pools(op_type):
    check_op(op_type, [X])
    check_op(op_type, [randn(2, 3, 7)])


def test_batch_norm():
    c = X.shape[1]
    stats = [w(c, seed=1), w(c, seed=2), w(c, seed=3), Init(np.abs(randn(c, seed=4)) + 0.5)]
    for opset in (9, 15):
        check_op("BatchNormalization", [X] + stats, {"epsilon": 1e-3}, opset)
    check_op("BatchNormalization", [randn(4, c)] + stats, {}, 15)


@pytest.mark.parametrize("axis,n_out", [(-1, 1), (1, 1), (2, 3)])
def test_layer_norm(axis, n_out):
    shape = X.shape[axis:]
    check_op("LayerNormalization", [X, w(*shape), w(*shape, seed=2)], {"axis": axis, "epsilon": 1e-5}, 17, n_out)
    check_op("LayerNormalization", [X, w(*shape)], {"axis": axis}, 17)


def test_instance_and_group_norm():
    c = X.shape[1]
    check_op("InstanceNormalization", [X, w(c), w(c, seed=2)], {"epsilon": 1e-4})
    check_op("GroupNormalization", [X, w(c), w(c, seed=2)], {"num_groups": 2}, opset=21)
    check_op("GroupNormalization", [X, w(2), w(2, seed=2)], {"num_groups": 2}, opset=18)


@pytest.mark.parametrize("size", [3, 5])  # ORT accepts odd sizes only
def test_lrn(size):
    check_op("LRN", [X * 3], {"size": size, "alpha": 0.01, "beta": 0.6, "bias": 1.5}, opset=13)


@pytest.mark.parametrize("p,axis", [(1, -1), (2, 1)])
def test_lp_normalization(p, axis):
    check_op("LpNormalization", [X], {"p": p, "axis": axis}, opset=13)


def test_mean_variance_normalization():
    check_op("MeanVarianceNormalization", [X], opset=13)
    check_op("MeanVarianceNormalization", [X], {"axes": [2, 3]}, opset=13)


def test_max_roi_pool():
    rois = Init(np.array([[0, 0, 0, 6, 7], [1, 2, 1, 5, 4], [0, 1.4, 2.6, 7.2, 8.9]], np.float32))
    check_op("MaxRoiPool", [X, rois], {"pooled_shape": [2, 3], "spatial_scale": 1.0}, opset=13)
    check_op("MaxRoiPool", [X, rois], {"pooled_shape": [3, 2], "spatial_scale": 0.5}, opset=13)


def test_swish_opset24():
    check_op("Swish", [X * 3], {"alpha": 0.7}, opset=24)
