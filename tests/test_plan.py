"""Plan validation: every bad plan is refused with one clear line, before any rewrite."""

from __future__ import annotations

import json

import pytest

from halp_graph.errors import PlanError
from halp_graph.graph import analyze
from halp_graph.models import edge_cases as ec
from halp_graph.plan import PLAN_SCHEMA, PruningPlan


@pytest.fixture(scope="module")
def groups():
    return analyze(ec.grouped_conv())


def ids(groups):
    frozen = next(g for g in groups if not g.prunable)
    cut = next(g for g in groups.prunable() if g.cut and g.blocks == 1)
    blocked = next(g for g in groups.prunable() if g.blocks == 2)
    return frozen, cut, blocked


@pytest.mark.parametrize("case,pattern", [
    ("unknown", "unknown group 'g99'"),
    ("frozen", "frozen and cannot be pruned"),
    ("range", "out of range"),
    ("negative", "out of range"),
    ("duplicate", "listed twice"),
    ("empty_cut", "graph cut"),
    ("blocks", "same number"),
])
def test_bad_plans(groups, case, pattern):
    frozen, cut, blocked = ids(groups)
    keep = {"unknown": {"g99": [0]}, "frozen": {frozen.id: [0]}, "range": {cut.id: [0, cut.size]},
            "negative": {cut.id: [-1]}, "duplicate": {cut.id: [1, 1]}, "empty_cut": {cut.id: []},
            "blocks": {blocked.id: [0, 1, 2]}}[case]
    with pytest.raises(PlanError, match=pattern):
        PruningPlan(keep).validate(groups)


def test_schema_and_types(tmp_path):
    with pytest.raises(PlanError, match="schema"):
        PruningPlan.from_json({"schema": "other/1", "keep": {}})
    with pytest.raises(PlanError, match="list of integers"):
        PruningPlan.from_json({"schema": PLAN_SCHEMA, "keep": {"g1": ["a"]}})
    with pytest.raises(PlanError, match="'keep' must be an object"):
        PruningPlan.from_json({"schema": PLAN_SCHEMA, "keep": [1]})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PlanError, match="not valid JSON"):
        PruningPlan.load(bad)


def test_round_trip(tmp_path, groups):
    plan = PruningPlan({groups.prunable()[0].id: [2, 0, 1]})
    path = tmp_path / "p.json"
    path.write_text(json.dumps(plan.to_json()))
    again = PruningPlan.load(path)
    assert again.keep == {groups.prunable()[0].id: [0, 1, 2]}
    again.validate(groups)
