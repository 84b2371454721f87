"""Property-based: random conv nets from residual, concat, split, depthwise, grouped,
squeeze-excite, slice and flatten pieces, with random plans, never break the invariant."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import prove_plan
from halp_graph.graph import analyze
from halp_graph.models.random_nets import HEADS, PIECES, build_random_net
from halp_graph.testing import random_plan

EXAMPLES = int(os.environ.get("HALP_GRAPH_PROPERTY_EXAMPLES", "2000"))


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=4),
       widths=st.lists(st.sampled_from([4, 6, 8, 12]), min_size=4, max_size=4),
       head=st.sampled_from(HEADS),
       opset=st.sampled_from([11, 13, 17, 18, 21]),
       plan_seed=st.integers(0, 2**31 - 1),
       p_empty=st.sampled_from([0.0, 0.2, 0.5]))
def test_random_nets_random_plans(pieces, widths, head, opset, plan_seed, p_empty):
    model = build_random_net(pieces, widths, head, opset)
    groups = analyze(model)
    plan = random_plan(groups, seed=plan_seed, p_touch=0.8, p_empty=p_empty)
    prove_plan(model, groups, plan, expect_change=False)
