"""Elementwise ops, activations, comparisons, logic and casts: twin == ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from .single_op import Init, check_op, randn

X = randn(2, 3, 4, 5)
POS = np.abs(randn(2, 3, 4, 5, seed=1)) + 0.1
UNIT = np.tanh(randn(2, 3, 4, 5, seed=2)) * 0.9
I64 = np.random.default_rng(3).integers(-20, 20, (3, 4)).astype(np.int64)
I64_NZ = np.where(I64 == 0, 7, I64)
I64_B = np.random.default_rng(6).integers(1, 9, (3, 4)).astype(np.int64) * np.sign(I64_NZ)
BOOL_A = np.random.default_rng(4).integers(0, 2, (3, 4)).astype(bool)
BOOL_B = np.random.default_rng(5).integers(0, 2, (3, 4)).astype(bool)

UNARY = {
    "Abs": X, "Neg": X, "Exp": X, "Log": POS, "Sqrt": POS, "Reciprocal": POS, "Floor": X * 3,
    "Ceil": X * 3, "Round": X * 3, "Sign": X, "Sin": X, "Cos": X, "Tan": UNIT, "Asin": UNIT,
    "Acos": UNIT, "Atan": X, "Sinh": X, "Cosh": X, "Asinh": X, "Acosh": POS + 1, "Atanh": UNIT,
    "Erf": X, "Relu": X, "Sigmoid": X * 4, "Tanh": X, "Softsign": X, "Softplus": X * 5,
    "Mish": X * 3, "Identity": X, "HardSwish": X * 4,
}


@pytest.mark.parametrize("op_type", sorted(UNARY))
def test_unary(op_type):
    check_op(op_type, [UNARY[op_type]], opset=18)


@pytest.mark.parametrize("op_type,attrs,opset", [
    ("LeakyRelu", {}, 16), ("LeakyRelu", {"alpha": 0.3}, 16), ("Elu", {"alpha": 0.7}, 13),
    ("Celu", {"alpha": 1.5}, 13), ("Selu", {}, 13), ("Selu", {"alpha": 1.2, "gamma": 0.9}, 13),
    ("ThresholdedRelu", {"alpha": 0.5}, 13), ("Shrink", {"bias": 0.2, "lambd": 0.4}, 13),
    ("HardSigmoid", {}, 13), ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}, 13),
    ("Gelu", {}, 20), ("Gelu", {"approximate": "tanh"}, 20),
])
def test_activation_attributes(op_type, attrs, opset):
    check_op(op_type, [X * 3], attrs, opset)


@pytest.mark.parametrize("op_type", ["Add", "Sub", "Mul", "Div"])
def test_broadcast_arithmetic(op_type):
    check_op(op_type, [X, Init(randn(3, 1, 5, seed=7) + 2.0)], opset=14)
    check_op(op_type, [randn(4, 5, seed=8), X + 3.0], opset=14)


@pytest.mark.parametrize("op_type", ["Add", "Sub", "Mul", "Div"])
def test_integer_arithmetic(op_type):
    check_op(op_type, [I64, I64_B], opset=14)


@pytest.mark.parametrize("op_type", ["Max", "Min", "Sum", "Mean"])
def test_variadic(op_type):
    check_op(op_type, [X, randn(3, 4, 1, seed=9), randn(5, seed=10)], opset=13)


def test_pow():
    check_op("Pow", [POS, X], opset=15)
    check_op("Pow", [X, Init(np.array(2.0, np.float32))], opset=15)


@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_int(fmod):
    check_op("Mod", [I64, np.full((3, 4), 7, np.int64) * np.sign(I64_NZ)], {"fmod": fmod}, opset=13)


def test_mod_float():
    check_op("Mod", [X * 5, POS + 1], {"fmod": 1}, opset=13)


@pytest.mark.parametrize("op_type", ["Equal", "Greater", "Less", "GreaterOrEqual", "LessOrEqual"])
def test_comparisons(op_type):
    check_op(op_type, [I64 % 3, I64_B % 3], opset=16)
    check_op(op_type, [np.round(X), Init(np.zeros((5,), np.float32))], opset=16)


@pytest.mark.parametrize("op_type", ["And", "Or", "Xor"])
def test_logic(op_type):
    check_op(op_type, [BOOL_A, BOOL_B], opset=13)


def test_not_where_isnan_isinf():
    check_op("Not", [BOOL_A])
    check_op("Where", [BOOL_A, randn(3, 4), randn(4, seed=1)], opset=16)
    nan = X.copy()
    nan[0, 0, 0] = np.nan
    nan[1, 1, 1] = np.inf
    nan[1, 2, 1] = -np.inf
    check_op("IsNaN", [nan], opset=13)
    for neg, pos in [(1, 1), (0, 1), (1, 0)]:
        check_op("IsInf", [nan], {"detect_negative": neg, "detect_positive": pos}, opset=10)


@pytest.mark.parametrize("op_type", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
def test_bitwise(op_type):
    check_op(op_type, [I64, I64_NZ * 3], opset=18)


def test_bitwise_not():
    check_op("BitwiseNot", [I64], opset=18)


def test_prelu():
    check_op("PRelu", [X, Init(randn(3, 1, 1, seed=3))], opset=16)


@pytest.mark.parametrize("opset,inputs,attrs", [
    (11, [X, Init(np.array(-0.5, np.float32)), Init(np.array(0.7, np.float32))], {}),
    (13, [X, "", Init(np.array(0.3, np.float32))], {}),
    (13, [X, Init(np.array(0.0, np.float32))], {}),
    (21, [X * 10, Init(np.array(0.0, np.float32)), Init(np.array(6.0, np.float32))], {}),
    (6, [X], {"min": -0.2, "max": 0.4}),
])
def test_clip(opset, inputs, attrs):
    check_op("Clip", inputs, attrs, opset)


def test_clip_int():
    check_op("Clip", [I64, Init(np.array(-5, np.int64)), Init(np.array(5, np.int64))], opset=13)


@pytest.mark.parametrize("to,data", [(7, X * 5), (1, I64), (9, X), (6, X * 100), (11, X)])
def test_cast(to, data):
    check_op("Cast", [data], {"to": to}, opset=19 if to != 11 else 13)


def test_cast_like():
    check_op("CastLike", [I64, Init(np.zeros(1, np.float32))], opset=15)


@pytest.mark.parametrize("opset", [11, 13])
def test_dropout_is_identity(opset):
    check_op("Dropout", [X], opset=opset)


def test_dropout_mask_output():
    check_op("Dropout", [X], opset=13, n_out=2)
