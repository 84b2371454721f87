"""What emptying a group removes beyond its own layers, priced into the knapsack.

A group left with no channels empties a branch: the rewrite removes the layers that
read nothing any more and folds what is computed from constants alone, which can be far
more than the group's own layers. In a MobileViT block, emptying the channels that feed
the transformer folds the whole attention stack to a constant. The latency table prices
layers, and each layer's kernels in context, at their kept counts; the attention
products, softmaxes and norms in between belong to no layer and stay in the prediction
as a fixed part of the dense latency. So the solver saw such a plan at its layers' cost
and the measurement came back 40% faster (mobilevit_xs at a 0.6 budget: two plans
predicted 2% apart measured 0.46 and 0.75 of the dense model).

For every group the solver may empty, the rewrite is run with that group alone emptied
(on the graph's structure, without its weights), and what it removed, or left computed
from constants alone for the runtime to fold, is priced: the kernels outside every layer
at what the table's whole-model profile timed (`LutCostModel.unpriced_ms`), and the
layers it removed at what the problem still charges for them, unless a group of theirs
can be emptied itself: then the problem prices them at nothing once that group is, and
a credit would count them twice when both go (a ResNet bottleneck's first and last convs:
crediting them made resnet50 at a 0.3 budget predict 0.29 and measure 0.53). The problem then gets one term per such group, costing
that credit while the group keeps a channel and nothing once it is emptied, and one per
pair of groups whose removals overlap, which gives the overlap back when both are
emptied (two groups feeding one transformer each fold all of it). What emptying several
groups together removes beyond their union is not priced; the closed loop measures the
result.
"""

from __future__ import annotations

from ..errors import PlanError
from ..graph import GroupSet
from ..plan import PruningPlan
from ..solver.problem import Problem, Side, Term


def emptying_credits(problem: Problem, groups: GroupSet, structure, cost_model) -> dict[str, dict[str, float]]:
    """{group id: {node: predicted ms}} of what emptying the group removes and the problem
    does not price, for every group with an emptying option; `structure(plan)` is the
    ModelProto the rewrite leaves (passes.pruned_structure: no weights copied)."""
    full = problem.full()
    layer_terms = {t.name: t for t in problem.terms}
    unpriced = getattr(cost_model, "unpriced_ms", None)
    running = _running_nodes(structure(PruningPlan({})))  # what the runtime folds already is no saving
    nodes = [n for n in groups.graph.nodes if (n.op_type, tuple(n.outputs)) in running]
    credits = {}
    for gid, counts in problem.counts.items():
        if int(counts[0]) != 0:
            continue
        kept = dict(full, **{gid: 0})
        try:
            left = _running_nodes(structure(PruningPlan({gid: []})))
        except PlanError:  # emptied alone it would cut the graph: only with others
            continue
        priced = {}
        for node in nodes:
            if (node.op_type, tuple(node.outputs)) in left:
                continue
            term = layer_terms.get(node.name)
            if term is not None and any(int(problem.counts[g][0]) == 0 for g in term.group_ids()):
                continue  # emptying that group prices it already: a credit would count it twice
            ms = term(term.inputs.kept(kept), term.outputs.kept(kept)) if term is not None else \
                (unpriced([node.name]) if unpriced is not None else 0.0)
            if ms > 0:
                priced[node.name] = float(ms)
        if priced:
            credits[gid] = priced
    return credits


def _running_nodes(proto) -> set[tuple]:
    """(op type, outputs) of the nodes a runtime still runs: not those computed from
    constants alone, which ONNX Runtime folds when it loads the model (node names may be
    empty, outputs are not)."""
    constant = {t.name for t in proto.graph.initializer}
    running = set()
    for node in proto.graph.node:
        inputs = [i for i in node.input if i]
        if node.op_type == "Constant" or (inputs and all(i in constant for i in inputs)):
            constant.update(o for o in node.output if o)
        else:
            running.add((node.op_type, tuple(node.output)))
    return running


def with_emptying_credits(problem: Problem, credits: dict[str, dict[str, float]]) -> Problem:
    """`problem` with a term per credited group, costing its credit while the group keeps
    a channel and nothing once it is emptied, and a term per pair of groups whose
    removals overlap, giving the overlap back when both are emptied."""
    if not credits:
        return problem
    extra = [Term(f"emptied {gid}", Side(0, ((gid, 1),)), Side(1), _while_kept(sum(nodes.values())))
             for gid, nodes in credits.items()]
    ids = sorted(credits)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            shared = sum(min(credits[a][n], credits[b][n]) for n in credits[a].keys() & credits[b].keys())
            if shared > 0:
                extra.append(Term(f"emptied {a} and {b}", Side(0, ((a, 1),)), Side(0, ((b, 1),)),
                                  _when_both_empty(shared)))
    return Problem(problem.counts, problem.values, problem.terms + extra, problem.dense_cost,
                   problem.budget, problem.unit, problem.sizes, problem.minimal_cut)


def _while_kept(ms: float):
    def cost(kept_in: int, kept_out: int) -> float:
        return ms if kept_in > 0 else 0.0
    return cost


def _when_both_empty(ms: float):
    def cost(kept_a: int, kept_b: int) -> float:
        return ms if kept_a == 0 and kept_b == 0 else 0.0
    return cost
