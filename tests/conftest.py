"""Shared fixtures: zoo exports (cached per machine), equivalence helpers."""

from __future__ import annotations

import numpy as np
import pytest

from halp_graph.graph import analyze, from_proto
from halp_graph.passes import prune_channels
from halp_graph.testing import check_equivalence, random_inputs, session


def prove_plan(model, groups, plan, *, expect_change: bool = True):
    """Rewrite by `plan`, check the invariant and the checker, and check that the plan
    actually changed what the model computes (so the comparison is not vacuous)."""
    loaded = model if hasattr(model, "proto") else from_proto(model)
    pruned = prune_channels(loaded, plan, groups)
    result = check_equivalence(loaded, pruned, plan, groups)
    assert result.ok, f"not equivalent: max abs error {result.max_abs:.3g} on {result.worst_output}"
    if expect_change and plan.removes_anything(groups):
        feeds = random_inputs(loaded)
        before = session(loaded).run(None, feeds)
        after = session(pruned).run(None, feeds)
        assert any(not np.allclose(a, b, rtol=1e-4, atol=1e-5) for a, b in zip(before, after)), \
            "the plan removed channels but the output did not change: the check proves nothing"
    return pruned


@pytest.fixture(scope="session")
def zoo():
    """zoo(name, exporter) -> path of a small-resolution export (cached across runs)."""
    from halp_graph.models import zoo as zoo_module

    def get(name: str, exporter: str = "legacy", **kwargs) -> str:
        kwargs.setdefault("resolution", zoo_module.small_resolution(name))
        return zoo_module.export(name, exporter, **kwargs)

    return get


@pytest.fixture(scope="session")
def grouped(zoo):
    cache = {}

    def get(name: str, exporter: str = "legacy"):
        if (name, exporter) not in cache:
            from halp_graph.graph import load_model
            model = load_model(zoo(name, exporter))
            cache[(name, exporter)] = (model, analyze(model))
        return cache[(name, exporter)]

    return get
