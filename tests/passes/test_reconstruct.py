"""ReconstructPass: on random nets and random plans, no layer's output error rises on the
calibration data, the errors fall overall, the model still passes the checker, and what
the pruned network computes on held-out inputs moves towards the dense network."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

pytest.importorskip("torch")

from halp_graph.graph import analyze, from_proto  # noqa: E402
from halp_graph.models.random_nets import build_random_net  # noqa: E402
from halp_graph.passes import prune_channels  # noqa: E402
from halp_graph.passes.reconstruct import ReconstructPass, reconstruct  # noqa: E402
from halp_graph.plan import PruningPlan  # noqa: E402
from halp_graph.runtime import session  # noqa: E402
from halp_graph.samples import Samples  # noqa: E402
from halp_graph.testing import random_plan  # noqa: E402

NETS = [
    (["residual", "bn", "concat"], [8, 8, 8]),
    (["depthwise", "se", "residual"], [8, 8, 8]),
    (["grouped", "split", "slice"], [8, 12, 8]),
]


def _inputs(n, seed):
    return {"x": np.random.default_rng(seed).standard_normal((n, 3, 6, 6)).astype(np.float32)}


def _rel_error(model, dense, feeds):
    got = session(model).run(None, feeds)[0]
    ref = session(dense).run(None, feeds)[0]
    return float(np.linalg.norm(got - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize("pieces,widths", NETS)
@pytest.mark.parametrize("seed", [0, 1])
def test_reconstruction_lowers_layer_errors_on_random_nets(pieces, widths, seed):
    dense = from_proto(build_random_net(pieces, widths, seed=seed))
    groups = analyze(dense)
    plan = random_plan(groups, seed=seed, p_empty=0.0, p_single=0.0)
    if not plan.removes_anything(groups):
        plan = PruningPlan({g.id: list(range(g.size // 2)) for g in groups.prunable()[:2]})
    pruned = prune_channels(dense, plan, groups)
    calib = Samples(_inputs(192, 10 + seed), None, "random")
    refitted, info = reconstruct(dense, pruned, plan, calib, groups)
    layers = info["layers"]
    assert layers, "no layer was refitted"
    for layer in layers:
        assert layer["error_after"] <= layer["error_before"] * (1 + 1e-9), layer
    assert sum(r["error_after"] for r in layers) < sum(r["error_before"] for r in layers)
    onnx.checker.check_model(refitted.proto, full_check=True)
    held_out = _inputs(64, 99)
    assert _rel_error(refitted, dense, held_out) < _rel_error(pruned, dense, held_out)


def test_a_plan_that_changes_nothing_is_left_alone():
    dense = from_proto(build_random_net(["residual"], [8]))
    groups = analyze(dense)
    calib = Samples(_inputs(32, 0), None, "random")
    refitted, _ = reconstruct(dense, dense, PruningPlan({}), calib, groups)
    assert refitted is dense


def test_unknown_steps_are_refused():
    dense = from_proto(build_random_net(["residual"], [8]))
    with pytest.raises(ValueError, match="unknown reconstruction steps"):
        ReconstructPass(dense, PruningPlan({}), Samples(_inputs(8, 0), None, "r"), steps=("magic",))
