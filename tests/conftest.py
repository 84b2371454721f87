"""Shared fixtures: zoo exports (cached per machine), equivalence helpers."""

from __future__ import annotations

import pytest

from halp_graph.equivalence import check_equivalence, compare_outputs
from halp_graph.graph import analyze, from_proto
from halp_graph.passes import prune_channels
from halp_graph.runtime import random_inputs, session


def prove_plan(model, groups, plan, *, expect_change: bool = True, shapes=None):
    """Rewrite by `plan`, check the invariant (a vacuous check fails too) and the checker,
    and check that the plan actually changed what the model computes (so the comparison
    is not trivially between two copies of one model). `shapes`: input shapes to check at;
    by default two (symbolic dimensions 2, then 1) when the model has dynamic axes."""
    loaded = model if hasattr(model, "proto") else from_proto(model)
    pruned = prune_channels(loaded, plan, groups)
    result = check_equivalence(loaded, pruned, plan, groups, shapes=shapes or dynamic_shapes(loaded))
    assert result.ok, result.summary()
    if expect_change and plan.removes_anything(groups):
        feeds = random_inputs(loaded)
        before = session(loaded).run(None, feeds)
        after = session(pruned).run(None, feeds)
        names = [o.name for o in loaded.proto.graph.output]
        changed = compare_outputs(names, after, before).outputs
        assert any(not o.ok for o in changed), \
            "the plan removed channels but the output did not change: the check proves nothing"
    return pruned


def dynamic_shapes(loaded, sizes=(2, 1)) -> list[dict] | None:
    """One input-shape dict per size, every symbolic dimension set to it; None when the
    model's inputs are all fixed."""
    inits = {t.name for t in loaded.proto.graph.initializer}
    inputs = [vi for vi in loaded.proto.graph.input if vi.name not in inits]
    dims = {vi.name: list(vi.type.tensor_type.shape.dim) for vi in inputs}
    if all(d.HasField("dim_value") for ds in dims.values() for d in ds):
        return None
    return [{name: [d.dim_value if d.HasField("dim_value") else size for d in ds]
             for name, ds in dims.items()} for size in sizes]


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
