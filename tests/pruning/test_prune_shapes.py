"""`prune --input-shapes`: latency tables, timing and calibration at the given shapes; with
several weighted profiles the goal is the weighted latency and the report lists each
shape's; the written model keeps its dynamic axes unless --fix-shapes. On the bundled
Fashion-MNIST ResNet (symbolic batch), timed on this CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

from halp_graph.runtime import session

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL = os.path.join(HERE, "..", "..", "models", "fmnist_resnet.onnx")


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "halp_graph", *map(str, args)], capture_output=True,
                          text=True, env=env)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return dict(os.environ, HALP_GRAPH_CACHE=str(tmp_path_factory.mktemp("cache")))


def test_two_weighted_profiles(tmp_path, env):
    out, report_path = tmp_path / "slim.onnx", tmp_path / "report.json"
    run = cli("prune", MODEL, "--target", "cpu", "--budget", "0.6", "--input-shapes", "input:1,1,28,28@0.3",
              "--input-shapes", "input:[8,1,28,28]", "--rounds", "3", "-o", out, "--report", report_path, env=env)
    assert run.returncode in (0, 1), run.stderr
    report = json.loads(report_path.read_text())
    assert [p["weight"] for p in report["input_shapes"]] == pytest.approx([0.3, 0.7])
    shapes = report["latency"]["per_shape"]
    assert [s["shapes"] for s in shapes] == ["input:1,1,28,28", "input:8,1,28,28"]
    dense = sum(s["weight"] * s["dense_ms"] for s in shapes)
    pruned = sum(s["weight"] * s["pruned_ms"] for s in shapes)
    chosen = report["rounds"][report["chosen_round"] - 1]
    assert chosen["solver"]["per_shape"] == shapes
    assert "at input:8,1,28,28" in run.stderr and "weighted" in run.stderr
    assert pruned / dense == pytest.approx(chosen["achieved"], rel=0.1)  # the last session pair's
    model = onnx.load(str(out))
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.HasField("dim_value")  # dynamic batch kept
    for n in (1, 5):
        out_ = session(model).run(None, {"input": np.zeros((n, 1, 28, 28), np.float32)})[0]
        assert out_.shape == (n, 10)


def test_fix_shapes_writes_the_model_at_its_shape(tmp_path, env):
    out = tmp_path / "slim.onnx"
    run = cli("prune", MODEL, "--target", "cpu", "--budget", "0.7", "--input-shapes", "input:4,1,28,28",
              "--fix-shapes", "--rounds", "2", "-o", out, env=env)
    assert run.returncode in (0, 1), run.stderr
    dims = [d.dim_value for d in onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [4, 1, 28, 28]


@pytest.mark.parametrize("args,code,message", [
    (["--input-shapes", "input:1,1,28,28", "--input-shapes", "input:2,1,28,28", "--fix-shapes"], 2,
     "one --input-shapes"),
    (["--input-shapes", "images:1,3,640,640"], 8, "has no input 'images'"),
    (["--input-shapes", "input:1,1,28"], 8, "has rank 4"),
    (["--input-shapes", "input:1,1,28,28@0"], 2, "weight must be positive"),
])
def test_bad_shapes_are_refused_before_any_work(tmp_path, env, args, code, message):
    out = tmp_path / "slim.onnx"
    run = cli("prune", MODEL, "--target", "cpu", "--budget", "0.5", *args, "-o", out, env=env)
    assert run.returncode == code, run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert not out.exists()
