"""Fixtures for the torch tests: zoo modules built once per session (handed out as copies,
since slimming changes them) and their cached ONNX exports."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")
# One intra-op thread: these models are small, and on a shared machine a second thread
# that has to wait for a busy core makes every op many times slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def zoo_module():
    """zoo_module(name) -> (a fresh copy of the calibrated torchvision module, resolution)."""
    from halp_graph.models import zoo

    cache = {}

    def get(name: str):
        if name not in cache:
            res = zoo.small_resolution(name)
            cache[name] = (zoo.build_module(name, res), res)
        module, res = cache[name]
        return copy.deepcopy(module), res

    return get


@pytest.fixture(scope="session")
def zoo_onnx():
    """zoo_onnx(name, exporter) -> LoadedModel of the cached export of the same module."""
    from halp_graph.graph import load_model
    from halp_graph.models import zoo

    def get(name: str, exporter: str = "legacy"):
        return load_model(zoo.export(name, exporter, resolution=zoo.small_resolution(name)))

    return get
