"""`lut build`, `lut show` and `bench` end to end, including bad input that writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest

from halp_graph.models import edge_cases as ec

PY = sys.executable


def cli(*args):
    return subprocess.run([PY, "-m", "halp_graph", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "res.onnx"
    onnx.save(ec.residual_add(batch=1), str(path))
    return path


@pytest.fixture(scope="module")
def lut_file(model):
    out = model.parent / "res.lut.json"
    r = cli("lut", "build", model, "--target", "cpu", "-o", out, "--quick")
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "lut [" in r.stderr  # summary on stdout, progress on stderr
    return out


def test_build_writes_a_lut(lut_file):
    data = json.loads(lut_file.read_text())
    assert data["schema"] == "halp_graph.lut/1"
    assert data["target"]["name"] == "cpu" and data["fingerprint"]["threads"] == 1
    assert len(data["models"]) == 1 and data["entries"]


def test_show_summarises_and_plots(lut_file, tmp_path):
    r = cli("lut", "show", lut_file)
    assert r.returncode == 0 and "measured" in r.stdout and "layer kind" in r.stdout
    png = tmp_path / "plot.png"
    r = cli("lut", "show", lut_file, "--plot", "#1", "-o", png)
    assert r.returncode == 0, r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = cli("lut", "show", lut_file, "--plot", "no_such_layer", "-o", tmp_path / "x.png")
    assert r.returncode == 8 and not (tmp_path / "x.png").exists()


def test_bench_measures(model):
    r = cli("bench", model, "--target", "cpu", "--quick", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["kind"] == "measured" and result["median_ms"] > 0 and result["target"]["threads"] == 1


def test_bench_estimates_a_device_that_is_not_here(model):
    r = cli("bench", model, "--target", "orin", "--backend", "analytic")
    assert r.returncode == 0 and "estimate" in r.stdout


@pytest.mark.parametrize("args,code,message", [
    (["--target", "nowhere"], 8, "unknown target"),
    (["--target", "cpu", "--batch", "0"], 8, "batch"),
    (["--target", "cuda"], 7, "CUDA"),
])
def test_bad_targets_write_nothing(model, tmp_path, args, code, message):
    out = tmp_path / "lut.json"
    r = cli("lut", "build", model, *args, "-o", out)
    assert r.returncode == code and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("error:")
    assert not out.exists()


def test_existing_output_is_refused(model, lut_file):
    before = lut_file.read_bytes()
    r = cli("lut", "build", model, "--target", "cpu", "-o", lut_file, "--quick")
    assert r.returncode == 6 and "already exists" in r.stderr
    assert lut_file.read_bytes() == before


def test_unreadable_lut(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    r = cli("lut", "show", bad)
    assert r.returncode == 8 and r.stderr.startswith("error:") and "not a valid LUT" in r.stderr
    r = cli("lut", "show", tmp_path / "missing.json")
    assert r.returncode == 8 and "no such LUT" in r.stderr


def test_unreadable_model(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage")
    r = cli("bench", bad, "--target", "cpu")
    assert r.returncode == 3 and r.stderr.startswith("error:")
