"""From the ties of every op to coupled channel groups.

1. Every tie boundary becomes a breakpoint on its axis, and breakpoints are carried across
   ties until they agree (a Split cutting a conv's output in two splits the conv's
   channels in two, and every tensor tied to them).
2. Between breakpoints lie atoms; a union-find over the ties merges atoms that are the same
   channels. Each class is a group.
3. Freezes and block constraints are attached to the classes they touch; graph cuts and
   the layers producing and consuming each group are worked out last.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict

from .axes import AxisKey, Tie
from .cuts import Reachability, mark_cuts
from .groups import Group, GroupSet, Layer, Member, Segment
from .ir import Graph
from .propagate import Propagation, propagate
from .rules import RuleContext, layer_axes


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _axis_sizes(ctx: RuleContext, prop: Propagation) -> dict[AxisKey, int]:
    sizes = {}
    for key in prop.keys:
        shape = ctx.graph.shape(key.tensor)
        if shape is not None and key.axis < len(shape) and isinstance(shape[key.axis], int):
            sizes[key] = shape[key.axis]
    return sizes


def _refine(sizes: dict[AxisKey, int], ties: list[Tie]) -> tuple[dict[AxisKey, list[int]], set[Tie]]:
    """Breakpoints per axis, closed under every tie; and ties that cannot be aligned."""
    points: dict[AxisKey, set[int]] = {k: {0, n} for k, n in sizes.items()}
    by_key: dict[AxisKey, list[tuple[Tie, bool]]] = defaultdict(list)
    work: list[tuple[AxisKey, int]] = []
    for tie in ties:
        by_key[tie.a.key].append((tie, True))
        by_key[tie.b.key].append((tie, False))
        for span in (tie.a, tie.b):
            for p in (span.start, span.stop):
                if p not in points[span.key]:
                    points[span.key].add(p)
                    work.append((span.key, p))
    work += [(k, p) for k, ps in points.items() for p in ps]
    misaligned: set[Tie] = set()
    while work:
        key, p = work.pop()
        for tie, from_a in by_key.get(key, ()):
            src, dst = (tie.a, tie.b) if from_a else (tie.b, tie.a)
            if not src.start < p < src.stop:
                continue
            offset = p - src.start
            if offset % src.block:
                misaligned.add(tie)
                continue
            q = dst.start + (offset // src.block) * dst.block
            if q not in points[dst.key]:
                points[dst.key].add(q)
                work.append((dst.key, q))
    return {k: sorted(v) for k, v in points.items()}, misaligned


def find_groups(graph: Graph) -> GroupSet:
    ctx = RuleContext(graph)
    prop = propagate(graph, ctx)
    sizes = _axis_sizes(ctx, prop)
    ties = [t for t in prop.ties if t.a.key in sizes and t.b.key in sizes]
    points, misaligned = _refine(sizes, ties)

    # atoms: consecutive breakpoints on each axis
    atoms: list[tuple[AxisKey, int, int]] = []
    atom_index: dict[AxisKey, list[int]] = {}
    for key in sorted(points, key=lambda k: (k.tensor, k.axis, k.use or "")):
        ps = points[key]
        first = len(atoms)
        atoms += [(key, ps[i], ps[i + 1]) for i in range(len(ps) - 1) if ps[i + 1] > ps[i]]
        atom_index[key] = list(range(first, len(atoms)))

    def atoms_in(key: AxisKey, start: int, stop: int) -> list[int]:
        ps = points[key]
        lo = bisect.bisect_left(ps, start)
        hi = bisect.bisect_left(ps, stop)
        base = atom_index[key][0] if atom_index[key] else 0
        return list(range(base + lo, base + hi))

    uf = _UnionFind(len(atoms))
    frozen: dict[int, list[str]] = defaultdict(list)
    for tie in ties:
        a_atoms = atoms_in(tie.a.key, tie.a.start, tie.a.stop)
        b_atoms = atoms_in(tie.b.key, tie.b.start, tie.b.stop)
        if tie in misaligned or len(a_atoms) != len(b_atoms):
            reason = f"channel ranges of {tie.a.key.tensor!r} and {tie.b.key.tensor!r} do not align"
            for i in a_atoms + b_atoms:
                frozen[i].append(reason)
            for i, j in zip(a_atoms, b_atoms):
                uf.union(i, j)
            continue
        for i, j in zip(a_atoms, b_atoms):
            uf.union(i, j)
    for key, reason in prop.freezes:
        for i in atom_index.get(key, ()):
            frozen[i].append(reason)

    classes: dict[int, list[int]] = defaultdict(list)
    for i in range(len(atoms)):
        classes[uf.find(i)].append(i)

    block_req: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for key, g, node in prop.blocks:
        ids = atom_index.get(key, [])
        if len(ids) == 1:
            block_req[uf.find(ids[0])].append((g, node))
        else:
            for i in ids:
                frozen[i].append(f"grouped Conv {node} takes channels of several groups")

    # order classes by where they first appear in the graph
    def position(i: int) -> tuple:
        key, start, _ = atoms[i]
        producer = graph.producer.get(key.tensor)
        return (producer.index if producer else -1, 1 if key.use else 0, key.tensor, start)

    ordered = sorted(classes.values(), key=lambda ids: min(position(i) for i in ids))
    groups: list[Group] = []
    atom_group: dict[int, str] = {}
    for ids in ordered:
        gid = f"g{len(groups)}"
        lengths = [atoms[i][2] - atoms[i][1] for i in ids]
        size = min(lengths)
        reasons = list(dict.fromkeys(r for i in ids for r in frozen.get(i, ())))
        if any(n % size for n in lengths):
            reasons.append("members disagree on the channel count")
        members = []
        for i in sorted(ids, key=position):
            key, start, stop = atoms[i]
            members.append(Member(key.tensor, key.axis, start, (stop - start) // size, key.use))
            atom_group[i] = gid
        blocks = 1
        for g, node in block_req.get(uf.find(ids[0]), []):
            blocks = math.lcm(blocks, g)
        if size % blocks:
            reasons.append(f"{size} channels do not split into {blocks} equal conv groups")
            blocks = 1
        groups.append(Group(gid, size, members, reasons, blocks=blocks))

    segments = {key: [Segment(atoms[i][1], atoms[i][2], atom_group[i]) for i in ids]
                for key, ids in atom_index.items()}
    by_id = {g.id: g for g in groups}
    layers = _layers(ctx, graph, segments, by_id)
    reach = Reachability(graph, segments)
    mark_cuts(groups, reach)
    return GroupSet(graph, groups, layers, segments, reach.minimal_cut)


def _layers(ctx: RuleContext, graph: Graph, segments, by_id) -> list[Layer]:
    layers = []
    for node in graph.nodes:
        info = layer_axes(ctx, node)
        if info is None or info.in_key not in segments or info.out_key not in segments:
            continue
        layer = Layer(node.name, node.op_type, info.weight, info.groups, info.in_key,
                      info.out_key, segments[info.in_key], segments[info.out_key])
        layers.append(layer)
        for gid in layer.output_groups():
            by_id[gid].producers.append(node.name)
        for gid in layer.input_groups():
            by_id[gid].consumers.append(node.name)
    return layers
