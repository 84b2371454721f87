"""Scores supplied from outside: the checks every score dict passes, files that hold them,
and how channels are ranked from them (highest kept, equal counts per block)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from halp_graph.errors import DataError
from halp_graph.graph import analyze
from halp_graph.models import edge_cases as ec
from halp_graph.saliency import check_scores, load_scores
from halp_graph.solver.values import count_values, kept_channels


def test_check_scores_fills_missing_groups_and_refuses_bad_ones():
    groups = analyze(ec.grouped_conv())
    prunable = groups.prunable()
    scores = check_scores(groups, {prunable[0].id: np.arange(prunable[0].size)})
    assert set(scores) == {g.id for g in prunable}
    assert np.all(scores[prunable[1].id] == 1.0)
    g = prunable[0]
    with pytest.raises(DataError, match="unknown group 'g99'"):
        check_scores(groups, {"g99": [1.0]})
    with pytest.raises(DataError, match=f"has 2 scores, the group has {g.size} channels"):
        check_scores(groups, {g.id: [1.0, 2.0]})
    with pytest.raises(DataError, match="negative"):
        check_scores(groups, {g.id: -np.ones(g.size)})
    with pytest.raises(DataError, match="NaN"):
        check_scores(groups, {g.id: np.full(g.size, np.nan)})
    with pytest.raises(DataError, match="not an array of numbers"):
        check_scores(groups, {g.id: ["a"] * g.size})


def test_load_scores_from_npz_and_json(tmp_path):
    np.savez(tmp_path / "s.npz", g2=np.arange(4.0))
    assert np.all(load_scores(tmp_path / "s.npz")["g2"] == np.arange(4.0))
    (tmp_path / "s.json").write_text(json.dumps({"g2": [1, 2, 3]}))
    assert load_scores(tmp_path / "s.json")["g2"].tolist() == [1.0, 2.0, 3.0]
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="expected a JSON object"):
        load_scores(tmp_path / "bad.json")
    with pytest.raises(DataError, match="no such saliency file"):
        load_scores(tmp_path / "nope.npz")


def test_ranking_keeps_the_top_of_each_block():
    scores = np.array([5.0, 1.0, 3.0, 0.0, 2.0, 9.0, 1.0, 1.0])
    assert kept_channels(scores, 1, 3) == [0, 2, 5]
    assert kept_channels(scores, 2, 4) == [0, 2, 4, 5]
    assert kept_channels(scores, 2, 6) == [0, 1, 2, 4, 5, 6]  # ties go to the lower index
    assert count_values(scores, 2, [0, 2, 4, 8]).tolist() == [0.0, 14.0, 19.0, 22.0]
    with pytest.raises(ValueError):
        kept_channels(scores, 2, 3)
