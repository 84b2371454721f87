"""Which groups are graph cuts: emptying them would cut the outputs off from the inputs.

A group is a cut when some graph output can only be reached from the inputs through
tensors that carry nothing but that group's channels (a plain chain, a residual stream).
Such a group can be pruned but never emptied; a bottleneck's inner channels, a
squeeze-excite's hidden units or one inception branch are not cuts, because a skip path,
the scaled feature map or the other branches still connect input and output.
"""

from __future__ import annotations

from .axes import AxisKey
from .groups import Group, Segment
from .ir import Graph


def find_cuts(graph: Graph, groups: list[Group], segments: dict[AxisKey, list[Segment]]) -> list[bool]:
    tensor_ids: dict[str, int] = {}

    def tid(name: str) -> int:
        if name not in tensor_ids:
            tensor_ids[name] = len(tensor_ids)
        return tensor_ids[name]

    # node -> outputs, tensor -> consuming nodes, over non-constant tensors only
    succ_nodes: dict[int, list[int]] = {}
    node_outputs: list[list[int]] = []
    for i, node in enumerate(graph.nodes):
        node_outputs.append([tid(o) for o in node.outputs if o])
        for name in node.inputs:
            if name and not graph.is_constant(name):
                succ_nodes.setdefault(tid(name), []).append(i)
    sources = [tid(n) for n in graph.inputs if not graph.is_constant(n)]
    sinks = [tid(n) for n in graph.outputs]

    wholly: dict[str, set[int]] = {}
    for key, segs in segments.items():
        if key.use is None and len(segs) == 1:
            wholly.setdefault(segs[0].group, set()).add(tid(key.tensor))

    def reaches_all_outputs(blocked: set[int]) -> bool:
        seen = set(s for s in sources if s not in blocked)
        stack = list(seen)
        while stack:
            t = stack.pop()
            for n in succ_nodes.get(t, ()):
                for o in node_outputs[n]:
                    if o not in seen and o not in blocked:
                        seen.add(o)
                        stack.append(o)
        return all(s in seen for s in sinks)

    return [not reaches_all_outputs(wholly.get(g.id, set())) for g in groups]
