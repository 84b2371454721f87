"""Resize in every mode and coordinate transformation the twin claims, and Upsample."""

from __future__ import annotations

import numpy as np
import pytest

from .single_op import Init, check_op, ints, randn

X = randn(2, 3, 5, 6)
COORDS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


def _scales(*values):
    return Init(np.array(values, np.float32))


def _inputs(opset, scales=None, sizes=None):
    roi = Init(np.zeros(0, np.float32)) if opset < 13 else ""
    if sizes is not None:
        return [X, roi, Init(np.zeros(0, np.float32)) if opset < 13 else "", ints(*sizes)]
    return [X, roi, _scales(*scales)]


@pytest.mark.parametrize("coord", COORDS)
@pytest.mark.parametrize("nearest", NEAREST)
@pytest.mark.parametrize("opset", [11, 13])
def test_nearest(coord, nearest, opset):
    attrs = {"mode": "nearest", "coordinate_transformation_mode": coord, "nearest_mode": nearest}
    check_op("Resize", _inputs(opset, scales=(1, 1, 2, 1.5)), attrs, opset)
    check_op("Resize", _inputs(opset, sizes=(2, 3, 3, 11)), attrs, opset)


@pytest.mark.parametrize("coord,opset", [(c, o) for c in COORDS for o in (11, 13, 19)]
                         + [("half_pixel_symmetric", 19)])
def test_linear(coord, opset):
    attrs = {"mode": "linear", "coordinate_transformation_mode": coord}
    check_op("Resize", _inputs(opset, scales=(1, 1, 2, 0.5)), attrs, opset)
    check_op("Resize", _inputs(opset, sizes=(2, 3, 8, 7)), attrs, opset)


@pytest.mark.parametrize("exclude_outside", [0, 1])
@pytest.mark.parametrize("coord", ["half_pixel", "align_corners", "asymmetric"])
def test_cubic(exclude_outside, coord):
    attrs = {"mode": "cubic", "coordinate_transformation_mode": coord, "exclude_outside": exclude_outside,
             "cubic_coeff_a": -0.75}
    check_op("Resize", _inputs(13, scales=(1, 1, 2, 1.5)), attrs, 13)


def test_axes_and_aspect_policy_opset18():
    attrs = {"mode": "linear", "axes": [2, 3]}
    check_op("Resize", [X, "", _scales(2, 1.5)], attrs, 18)
    for policy in ("not_larger", "not_smaller"):
        check_op("Resize", [X, "", "", ints(10, 9)], dict(attrs, keep_aspect_ratio_policy=policy), 18)


def test_upsample_opset9():
    check_op("Upsample", [X, _scales(1, 1, 2, 3)], {"mode": "nearest"}, 9)
    check_op("Upsample", [X, _scales(1, 1, 2, 2)], {"mode": "linear"}, 9)
