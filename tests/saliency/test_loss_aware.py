"""Loss-aware saliency on graphs built in code: a dead channel scores nothing, a branch the
output depends on scores far above one it barely touches, emptying is priced by its own
measured distortion, and the Fisher scores predict the measured cost of removing a channel."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

pytest.importorskip("torch")

from halp_graph.graph import analyze, from_proto  # noqa: E402
from halp_graph.models.builder import GraphBuilder  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.plan import PruningPlan  # noqa: E402
from halp_graph.runtime import session  # noqa: E402
from halp_graph.saliency.loss_aware import loss_aware_scores  # noqa: E402
from halp_graph.samples import Samples  # noqa: E402


def _edit(proto: onnx.ModelProto, prefix: str, fn) -> None:
    for t in proto.graph.initializer:
        if t.name.startswith(prefix):
            t.CopyFrom(numpy_helper.from_array(fn(numpy_helper.to_array(t).copy()), t.name))


def two_branch_net(quiet_scale: float = 1e-3, dead: int = 2) -> onnx.ModelProto:
    """stem -> {loud branch, quiet branch} -> concat -> pool -> gemm; channel `dead` of the
    loud branch is zero for every input."""
    b = GraphBuilder("two_branch", 17, "N", seed=3)
    x = b.relu(b.conv(b.input("x", 3, (8, 8)), 8, hint="stem"))
    loud = b.relu(b.conv(x, 6, hint="loud"))
    quiet = b.relu(b.conv(x, 6, hint="quiet"))
    b.output(b.gemm(b.flatten(b.gap(b.concat([loud, quiet]))), 5))
    proto = b.build()

    def kill(w):
        w[dead] = 0
        return w
    _edit(proto, "loud_w", kill)
    _edit(proto, "loud_b", kill)
    _edit(proto, "quiet_w", lambda w: w * quiet_scale)
    _edit(proto, "quiet_b", lambda w: w * quiet_scale)
    return proto


def _samples(n=96, seed=0):
    return Samples({"x": np.random.default_rng(seed).standard_normal((n, 3, 8, 8)).astype(np.float32)},
                   None, "random")


def _group_of(groups, hint):
    """The prunable group whose channels the conv named by `hint` produces."""
    return next(g for g in groups.prunable() if any(m.tensor.startswith(hint + "_") for m in g.activation_members()))


def test_dead_channel_last_and_the_branch_that_matters_high():
    model = from_proto(two_branch_net())
    groups = analyze(model)
    result = loss_aware_scores(groups, model, _samples())
    loud, quiet = _group_of(groups, "loud"), _group_of(groups, "quiet")
    s_loud, s_quiet = result.scores[loud.id], result.scores[quiet.id]
    assert s_loud[2] == 0.0 and s_loud.argmin() == 2  # the dead channel
    alive = np.delete(s_loud, 2)
    assert alive.min() > 100 * s_quiet.max()
    assert result.empty[loud.id] > 100 * result.empty[quiet.id] > 0
    assert "KL" in result.unit or "nats" in result.unit


def _kl(dense_logits, logits):
    def logsoft(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    p = np.exp(logsoft(dense_logits))
    return float(np.mean(np.sum(p * (logsoft(dense_logits) - logsoft(logits)), axis=1)))


def test_fisher_scores_predict_the_measured_cost_of_removing_one_channel():
    model = from_proto(two_branch_net(quiet_scale=0.5, dead=0))
    groups = analyze(model)
    samples = _samples(256)
    result = loss_aware_scores(groups, model, samples)
    feeds = samples.arrays
    dense = session(model).run(None, feeds)[0]
    predicted, measured = [], []
    for g in groups.prunable():
        for c in range(g.size):
            plan = PruningPlan({g.id: [i for i in range(g.size) if i != c]})
            out = session(prune_channels(model, plan, groups)).run(None, feeds)[0]
            predicted.append(result.scores[g.id][c])
            measured.append(_kl(dense, out))
    rank = np.corrcoef(np.argsort(np.argsort(predicted)), np.argsort(np.argsort(measured)))[0, 1]
    assert rank > 0.8, rank


def test_removed_channels_score_zero_and_tables_price_the_model_they_leave():
    """Scoring a partly pruned model (the schedule's later steps): the removed channels are
    held at zero, score nothing and come first; the tables are measured from there, and
    their emptied point is what the rewrite of the full removal measures in ORT."""
    model = from_proto(two_branch_net(quiet_scale=0.5, dead=5))
    groups = analyze(model)
    loud = _group_of(groups, "loud")
    removed = {loud.id: np.array([0, 1, 2])}
    samples = _samples(128)
    result = loss_aware_scores(groups, model, samples, removed=removed, table_samples=128)
    scores = result.scores[loud.id]
    assert np.all(scores[[0, 1, 2]] == 0) and np.all(scores[3:] > 0)  # dead channel 5 too: above zero
    points = dict(result.tables[loud.id])
    assert points[3] == 0.0 and min(points) == 3  # nothing below what is already removed
    assert set(points) - {3} <= set(range(4, loud.size + 1))
    # the measured loss of removing 3 more (channel order by score) against the rewrite
    order = [c for c in np.lexsort((np.arange(loud.size), scores)) if c not in (0, 1, 2)]
    r = max(k for k in points if k < loud.size)
    gone = [0, 1, 2] + [int(c) for c in order[:r - 3]]
    feeds = samples.arrays
    base = session(prune_channels(model, PruningPlan({loud.id: [3, 4, 5]}), groups)).run(None, feeds)[0]
    cut = session(prune_channels(model, PruningPlan({loud.id: [c for c in range(loud.size) if c not in gone]}),
                                 groups)).run(None, feeds)[0]
    assert points[r] == pytest.approx(_kl(base, cut), rel=1e-3, abs=1e-6)
