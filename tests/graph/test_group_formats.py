"""Groups as JSON (schema halp_graph.groups/1), DOT, GraphML and the networkx graph."""

from __future__ import annotations

import io
import json

import networkx as nx

from halp_graph.graph import analyze
from halp_graph.graph.group_formats import dependency_graph, render
from halp_graph.models import edge_cases as ec


def test_json_follows_the_schema():
    data = json.loads(render(analyze(ec.concat_branches()), "json"))
    assert data["schema"] == "halp_graph.groups/1"
    for g in data["groups"]:
        for field in ("id", "size", "prunable", "reason", "cut", "blocks", "divisor", "members"):
            assert field in g
        for m in g["members"]:
            assert {"tensor", "axis", "start", "stop", "offset", "block"} <= set(m)
            assert m["start"] == 0 and m["stop"] == g["size"]
    right = next(g for g in data["groups"]
                 if any(m["tensor"].startswith("right_") and "param_of" not in m for m in g["members"]))
    cat = next(m for m in right["members"] if m["tensor"].startswith("concat"))
    assert cat["offset"] == 4


def test_dependency_graph_links_layers_and_groups():
    groups = analyze(ec.residual_add())
    g = dependency_graph(groups)
    kinds = nx.get_node_attributes(g, "kind")
    assert sum(k == "group" for k in kinds.values()) == len(groups)
    assert sum(k == "layer" for k in kinds.values()) == len(groups.layers)
    inner = next(x for x in groups.prunable() if not x.cut)
    assert len(list(g.predecessors(inner.id))) == 1 and len(list(g.successors(inner.id))) == 1


def test_graphml_round_trips_through_networkx():
    text = render(analyze(ec.squeeze_excite()), "graphml")
    back = nx.read_graphml(io.StringIO(text))
    assert back.number_of_nodes() == dependency_graph(analyze(ec.squeeze_excite())).number_of_nodes()


def test_dot_and_text_name_every_group():
    groups = analyze(ec.no_rule())
    dot = render(groups, "dot")
    text = render(groups, "text")
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for g in groups:
        assert f'"{g.id}"' in dot
        assert f" {g.id} " in text
    assert "no channel rule for CumSum" in text
