"""The command line end to end: outputs, formats, exit codes, and refusals that write nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest

from halp_graph.models import edge_cases as ec

PY = sys.executable


def cli(*args, cwd=None):
    return subprocess.run([PY, "-m", "halp_graph", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


@pytest.fixture()
def model(tmp_path):
    path = tmp_path / "se.onnx"
    onnx.save(ec.squeeze_excite(), str(path))
    return path


def plan_file(tmp_path, keep, name="plan.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"schema": "halp_graph.plan/1", "keep": keep}))
    return path


def test_groups_text_and_json(model, tmp_path):
    r = cli("groups", model)
    assert r.returncode == 0 and "prunable" in r.stdout and "frozen: graph input" in r.stdout
    out = tmp_path / "g.json"
    r = cli("groups", model, "--format", "json", "-o", out)
    assert r.returncode == 0 and json.loads(out.read_text())["schema"] == "halp_graph.groups/1"
    r = cli("groups", model, "--format", "json", "-o", out)
    assert r.returncode == 6 and "already exists" in r.stderr


def test_apply_then_verify(model, tmp_path):
    plan = plan_file(tmp_path, {"g3": [0, 2, 5], "g4": []})
    out = tmp_path / "slim.onnx"
    r = cli("apply", model, "--plan", plan, "-o", out)
    assert r.returncode == 0, r.stderr
    onnx.checker.check_model(str(out), full_check=True)
    r = cli("verify", model, out, "--plan", plan)
    assert r.returncode == 0 and r.stdout.startswith("equivalent")


def test_verify_detects_a_wrong_model(model, tmp_path):
    plan = plan_file(tmp_path, {"g3": [0, 2, 5]})
    other = plan_file(tmp_path, {"g3": [1, 2, 5]}, "other.json")
    out = tmp_path / "slim.onnx"
    assert cli("apply", model, "--plan", other, "-o", out).returncode == 0
    r = cli("verify", model, out, "--plan", plan)
    assert r.returncode == 1 and "NOT equivalent" in r.stdout


@pytest.mark.parametrize("keep,code,message", [
    ({"g9": [0]}, 4, "unknown group"),
    ({"g0": [0]}, 4, "frozen"),
    ({"g3": [0, 99]}, 4, "out of range"),
    ({"g3": [1, 1]}, 4, "listed twice"),
    ({"g3": []}, 4, "graph cut"),
])
def test_bad_plans_write_nothing(model, tmp_path, keep, code, message):
    out = tmp_path / "slim.onnx"
    r = cli("apply", model, "--plan", plan_file(tmp_path, keep), "-o", out)
    assert r.returncode == code and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_wrong_schema(model, tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"schema": "halp_graph.plan/0", "keep": {}}))
    r = cli("apply", model, "--plan", path, "-o", tmp_path / "o.onnx")
    assert r.returncode == 4 and "schema" in r.stderr


def test_never_overwrites_the_input(model, tmp_path):
    before = model.read_bytes()
    r = cli("apply", model, "--plan", plan_file(tmp_path, {"g3": [0]}), "-o", model, "--force")
    assert r.returncode == 6 and "input" in r.stderr
    assert model.read_bytes() == before


def test_unreadable_model(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(ec.residual_add().SerializeToString()[:100])
    r = cli("groups", bad)
    assert r.returncode == 3 and r.stderr.startswith("error:")


def test_help_lists_commands():
    r = cli("--help")
    assert r.returncode == 0
    for command in ("groups", "apply", "verify"):
        assert command in r.stdout
