"""Group reports for people and tools: a text table, groups JSON, DOT and GraphML.

The dependency graph is a networkx DiGraph with one node per group and per layer: an edge
layer -> group when the layer produces the group's channels, group -> layer when it
consumes them. DOT and GraphML are written from that graph.
"""

from __future__ import annotations

import io
import json

import networkx as nx

from .groups import GroupSet

FORMATS = ("text", "json", "dot", "graphml")


def dependency_graph(groups: GroupSet) -> nx.DiGraph:
    g = nx.DiGraph(name="halp_graph channel groups")
    for group in groups:
        g.add_node(group.id, kind="group", size=group.size, prunable=group.prunable,
                   reason=group.reason or "", cut=group.cut, blocks=group.blocks,
                   divisor=group.divisor, members=len(group.members))
    for layer in groups.layers:
        node = f"layer:{layer.name}"
        g.add_node(node, kind="layer", op_type=layer.op_type, name=layer.name,
                   in_channels=layer.in_channels, out_channels=layer.out_channels)
        for gid in layer.input_groups():
            g.add_edge(gid, node, relation="consumed by")
        for gid in layer.output_groups():
            g.add_edge(node, gid, relation="produces")
    return g


def to_text(groups: GroupSet, width: int = 60) -> str:
    s = groups.summary()
    lines = [f"{s['groups']} groups, {s['prunable']} prunable ({s['prunable_channels']} channels), "
             f"{s['layers']} layers",
             f"{'group':>6} {'size':>6} {'cut':>3} {'blk':>3}  {'status':<{width}} producers -> consumers"]
    for g in groups:
        status = "prunable" if g.prunable else f"frozen: {g.reason}"
        if len(status) > width:
            status = status[:width - 3] + "..."
        prod = _names(g.producers)
        cons = _names(g.consumers)
        lines.append(f"{g.id:>6} {g.size:>6} {'yes' if g.cut else '':>3} {g.blocks:>3}  "
                     f"{status:<{width}} {prod} -> {cons}")
    return "\n".join(lines) + "\n"


def _names(names: list[str], limit: int = 3) -> str:
    if not names:
        return "-"
    shown = ", ".join(names[:limit])
    return shown + (f" (+{len(names) - limit})" if len(names) > limit else "")


def to_json(groups: GroupSet) -> str:
    return json.dumps(groups.to_json(), indent=1) + "\n"


def to_dot(groups: GroupSet) -> str:
    graph = dependency_graph(groups)
    out = ["digraph halp_graph {", "  rankdir=TB;", '  node [fontname="Helvetica", fontsize=10];']
    for node, data in graph.nodes(data=True):
        if data["kind"] == "group":
            color = "palegreen" if data["prunable"] else "lightpink"
            label = f"{node}\\n{data['size']} ch" + ("\\ncut" if data["cut"] else "")
            if not data["prunable"]:
                label += "\\n" + _dot_escape(data["reason"][:48])
            out.append(f'  "{node}" [shape=ellipse, style=filled, fillcolor={color}, label="{label}"];')
        else:
            label = f"{data['op_type']}\\n{_dot_escape(data['name'][-40:])}"
            out.append(f'  "{_dot_escape(node)}" [shape=box, label="{label}"];')
    for a, b in graph.edges():
        out.append(f'  "{_dot_escape(a)}" -> "{_dot_escape(b)}";')
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_graphml(groups: GroupSet) -> str:
    buf = io.BytesIO()
    nx.write_graphml(dependency_graph(groups), buf)
    return buf.getvalue().decode()


def render(groups: GroupSet, fmt: str) -> str:
    return {"text": to_text, "json": to_json, "dot": to_dot, "graphml": to_graphml}[fmt](groups)
