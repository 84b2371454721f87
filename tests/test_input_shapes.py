"""--input-shapes: onnxsim's and Polygraphy's syntax, weighted shape profiles, models fixed
to a shape with their value shapes inferred again, and bad specs refused with one line
(exit 2 for what does not parse, 8 for what does not fit the model)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from halp_graph.errors import SettingsError
from halp_graph.graph import analyze, load_model
from halp_graph.input_shapes import ShapeError, fix_input_shapes, parse_profile, parse_profiles
from halp_graph.runtime import session

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "models", "fmnist_resnet.onnx")


def test_onnxsim_and_polygraphy_syntax():
    assert parse_profile(["images:1,3,640,640"]) == ({"images": (1, 3, 640, 640)}, None)
    assert parse_profile(["images:[1,3,640,640]", "scale:1,2"]) == (
        {"images": (1, 3, 640, 640), "scale": (1, 2)}, None)
    assert parse_profile("x:1,3,32,32@0.7") == ({"x": (1, 3, 32, 32)}, 0.7)
    assert parse_profile(["x:1,3,32,32", "@2"]) == ({"x": (1, 3, 32, 32)}, 2.0)
    assert parse_profile(["onnx::Conv_0:1,8"]) == ({"onnx::Conv_0": (1, 8)}, None)  # colons in names


def test_profile_weights_are_normalised():
    ps = parse_profiles([["x:1,3,64,64@3"], ["x:1,3,32,32@1"]])
    assert [p.weight for p in ps] == [0.75, 0.25]
    ps = parse_profiles([["x:1,3,64,64@0.7"], ["x:1,3,32,32"]])
    assert [p.weight for p in ps] == pytest.approx([0.7, 0.3])
    assert [p.weight for p in parse_profiles([["x:1,3,8,8"], ["x:2,3,8,8"]])] == [0.5, 0.5]
    assert parse_profiles(None) == []


@pytest.mark.parametrize("words,error,message", [
    (["x1,3,8,8"], SettingsError, "cannot read"),
    (["x:"], SettingsError, "no dimensions"),
    (["x:1,a,8,8"], ShapeError, "not a positive integer"),
    (["x:1,3,0,8"], ShapeError, "size 0 is not a positive integer"),
    (["x:1,3,-8,8"], ShapeError, "not a positive integer"),
    (["x:1,3,8,8@zero"], SettingsError, "not a number"),
    (["x:1,3,8,8@-1"], SettingsError, "must be positive"),
    (["x:1,3,8,8", "x:1,3,4,4"], SettingsError, "given twice"),
])
def test_bad_specs(words, error, message):
    with pytest.raises(error, match=message):
        parse_profiles([words])


def test_weights_leaving_nothing_are_refused():
    with pytest.raises(SettingsError, match="leaving nothing"):
        parse_profiles([["x:1,3,8,8@1"], ["x:1,3,4,4"]])


def dynamic_net() -> onnx.ModelProto:
    """conv -> relu -> conv (stride 2) -> global pool -> gemm, input [N, 3, H, W]."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array((rng.standard_normal(s) / np.sqrt(np.prod(s[1:]))).astype(np.float32), n)
             for n, s in (("w1", (8, 3, 3, 3)), ("w2", (8, 8, 3, 3)), ("w3", (4, 8)))]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["c2"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "w3"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_fixing_shapes_infers_every_value_again():
    proto = dynamic_net()
    fixed = fix_input_shapes(load_model_from(proto), {"x": (2, 3, 20, 24)})
    dims = [d.dim_value for d in fixed.proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [2, 3, 20, 24]
    for vi in fixed.proto.graph.value_info:  # every intermediate shape is concrete now
        assert all(d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim), vi.name
    assert [d.dim_value for d in fixed.proto.graph.output[0].type.tensor_type.shape.dim] == [2, 4]
    feeds = {"x": np.random.default_rng(0).standard_normal((2, 3, 20, 24)).astype(np.float32)}
    a = session(load_model_from(proto)).run(None, feeds)[0]
    b = session(fixed).run(None, feeds)[0]
    np.testing.assert_array_equal(a, b)
    assert len(analyze(fixed)) == len(analyze(load_model_from(proto)))


@pytest.mark.parametrize("shapes,message", [
    ({"y": (1, 3, 8, 8)}, "has no input 'y'"),
    ({"x": (1, 3, 8)}, "has rank 4, not 3"),
    ({"x": (1, 4, 8, 8)}, "fixed size 3 on axis 1, not 4"),
])
def test_shapes_that_do_not_fit_the_model(shapes, message):
    with pytest.raises(ShapeError, match=message):
        fix_input_shapes(load_model_from(dynamic_net()), shapes)


def load_model_from(proto):
    from halp_graph.graph import from_proto
    return from_proto(proto)


def cli(*args):
    return subprocess.run([sys.executable, "-m", "halp_graph", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("spec,code,message", [
    ("nope:1,1,28,28", 8, "has no input 'nope'"),
    ("input:1,28,28", 8, "has rank 4"),
    ("input:1,1,0,28", 8, "size 0"),
    ("input=1,1,28,28", 2, "cannot read"),
])
def test_cli_bad_specs_one_line_and_nothing_written(tmp_path, spec, code, message):
    out = tmp_path / "groups.json"
    run = cli("groups", MODEL, "--input-shapes", spec, "--format", "json", "-o", out)
    assert run.returncode == code, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], run.stderr
    assert not out.exists()


def test_cli_groups_at_a_shape(tmp_path):
    run = cli("groups", MODEL, "--input-shapes", "input:[4,1,28,28]")
    assert run.returncode == 0, run.stderr
    assert "6 prunable" in run.stdout
    two = cli("groups", MODEL, "--input-shapes", "input:4,1,28,28", "--input-shapes", "input:1,1,28,28")
    assert two.returncode == 2 and "one --input-shapes" in two.stderr
