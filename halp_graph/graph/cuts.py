"""Which sets of emptied groups cut the outputs off from the inputs.

A tensor carries nothing once every group with channels in it is emptied. A set of
groups disconnects the model when some graph output can only be reached from the inputs
through such tensors. A group that does so alone is a cut (a plain chain, a residual
stream): it can be pruned but never emptied. A bottleneck's inner channels, a
squeeze-excite's hidden units or one inception branch are not cuts, because a skip path,
the scaled feature map or the other branches still connect input and output; emptying
every branch of a detector head at once would, which the solver checks plan by plan.
"""

from __future__ import annotations

from typing import Iterable

from .axes import AxisKey
from .groups import Group, Segment
from .ir import Graph


class Reachability:
    """Input-to-output reachability of one graph's non-constant tensors, with groups emptied."""

    def __init__(self, graph: Graph, segments: dict[AxisKey, list[Segment]]):
        ids: dict[str, int] = {}

        def tid(name: str) -> int:
            return ids.setdefault(name, len(ids))

        self._succ: dict[int, list[int]] = {}  # tensor -> consuming nodes
        self._outputs: list[list[int]] = []    # node -> output tensors
        for i, node in enumerate(graph.nodes):
            self._outputs.append([tid(o) for o in node.outputs if o])
            for name in node.inputs:
                if name and not graph.is_constant(name):
                    self._succ.setdefault(tid(name), []).append(i)
        self._sources = [tid(n) for n in graph.inputs if not graph.is_constant(n)]
        self._sinks = [tid(n) for n in graph.outputs]
        # tensor -> the groups whose channels fill its channel axis (activations only)
        self._carriers: dict[int, frozenset[str]] = {}
        for key, segs in segments.items():
            if key.use is None:
                self._carriers[tid(key.tensor)] = frozenset(s.group for s in segs)

    def blocked(self, emptied: Iterable[str]) -> set[int]:
        emptied = set(emptied)
        return {t for t, carriers in self._carriers.items() if carriers <= emptied}

    def connects(self, emptied: Iterable[str]) -> bool:
        """Whether every output is still reached from the inputs with `emptied` groups empty."""
        blocked = self.blocked(emptied)
        seen = {s for s in self._sources if s not in blocked}
        stack = list(seen)
        while stack:
            for n in self._succ.get(stack.pop(), ()):
                for o in self._outputs[n]:
                    if o not in seen and o not in blocked:
                        seen.add(o)
                        stack.append(o)
        return all(s in seen for s in self._sinks)

    def minimal_cut(self, emptied: Iterable[str]) -> list[str] | None:
        """None when `emptied` keeps the model connected; else a subset of it that still
        disconnects and loses that property when any one member is kept."""
        cut = sorted(set(emptied))
        if self.connects(cut):
            return None
        for g in list(cut):
            rest = [h for h in cut if h != g]
            if not self.connects(rest):
                cut = rest
        return cut


def mark_cuts(groups: list[Group], reach: Reachability) -> None:
    for group in groups:
        group.cut = not reach.connects([group.id])
