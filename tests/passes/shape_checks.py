"""Proving a rewrite at several input shapes: what the dynamic-axes tests share.

`prove_at_shapes` rewrites a model by a plan, checks the equivalence invariant at every
shape given (scale-aware, vacuous checks fail), checks that the plan changed what the model
computes (so agreement is not trivial) and that the rewritten model declares the same
symbolic dimensions on its inputs and outputs as the original.
"""

from __future__ import annotations

import numpy as np
import onnx

from halp_graph.graph import as_loaded
from halp_graph.passes import prune_channels
from halp_graph.runtime import session
from halp_graph.testing import check_equivalence

# two shapes for x: [N, 3, H, W], odd sizes included so that stride arithmetic rounds
NCHW_SHAPES = [{"x": [2, 3, 8, 8]}, {"x": [1, 3, 7, 11]}]
NHWC_SHAPES = [{"x": [2, 8, 8, 3]}, {"x": [1, 7, 11, 3]}]


def declared_dims(proto: onnx.ModelProto) -> dict[str, list]:
    """{graph input or output: its declared dims, symbolic ones by name}."""
    out = {}
    for vi in list(proto.graph.input) + list(proto.graph.output):
        dims = vi.type.tensor_type.shape.dim
        out[vi.name] = [d.dim_param if d.HasField("dim_param") else d.dim_value if d.HasField("dim_value")
                        else None for d in dims]
    return out


def random_feeds(shape: dict, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(dims).astype(np.float32) for name, dims in shape.items()}


def prove_at_shapes(model, groups, plan, shapes=NCHW_SHAPES, expect_change: bool = True):
    """Rewrite by `plan` and prove it at every shape in `shapes`; returns the result.
    With `expect_change`, the plan must also change the outputs (a plan that only drops
    channels nothing reads leaves them as they were, and proves little)."""
    loaded = as_loaded(model)
    pruned = prune_channels(loaded, plan, groups)
    result = check_equivalence(loaded, pruned, plan, groups, shapes=shapes)
    assert result.ok, result.summary()
    assert declared_dims(pruned.proto) == declared_dims(loaded.proto)
    if expect_change and plan.removes_anything(groups):
        assert changes_outputs(loaded, pruned, shapes[0]), "the plan changed nothing: the check proves nothing"
    return pruned


def changes_outputs(model, pruned, shape: dict) -> bool:
    feeds = random_feeds(shape)
    before, after = session(model).run(None, feeds), session(pruned).run(None, feeds)
    return any(a.shape != b.shape or not np.allclose(a, b, rtol=1e-4, atol=1e-6)
               for a, b in zip(before, after))
