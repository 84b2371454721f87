"""Slimming nn.Modules in place: the slim module exports to ONNX and computes exactly what
the ONNX rewrite of the same plan computes; training continues after it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from halp_graph.equivalence import compare_outputs
from halp_graph.errors import PlanError
from halp_graph.graph import analyze
from halp_graph.passes import prune_channels
from halp_graph.plan import PruningPlan
from halp_graph.runtime import session
from halp_graph.torch import ChannelMasks, export_onnx, module_groups, slim_module, translate_plan

from tiny_models import DigitsNet, digits_tensors


def keep_most(groups, seed: int, low: float = 0.5) -> PruningPlan:
    """A random plan keeping 50-95% of every prunable group (per block), never empty: the
    outputs change but stay of order one, so the comparison means something."""
    rng = np.random.default_rng(seed)
    keep = {}
    for g in groups.prunable():
        per = g.size // g.blocks
        count = max(1, int(per * rng.uniform(low, 0.95)))
        if count == per:
            continue
        keep[g.id] = sorted(int(b * per + i) for b in range(g.blocks)
                            for i in rng.choice(per, size=count, replace=False))
    return PruningPlan(keep)


def run(model, feeds):
    return session(model).run(None, feeds)


@pytest.mark.parametrize("name,exporter", [
    ("resnet18", "legacy"), ("mobilenet_v2", "legacy"), ("resnext50_32x4d", "legacy"),
    ("efficientnet_b0", "legacy"), ("regnet_y_400mf", "dynamo"), ("densenet121", "legacy"),
])
def test_slim_module_matches_onnx_rewrite(zoo_module, zoo_onnx, name, exporter):
    module, res = zoo_module(name)
    dense_onnx = zoo_onnx(name, exporter)
    onnx_groups = analyze(dense_onnx)
    groups = module_groups(module, torch.randn(1, 3, res, res))
    plan = keep_most(groups, seed=3)
    assert plan.keep
    rewritten = prune_channels(dense_onnx, translate_plan(plan, groups.groups, onnx_groups), onnx_groups)

    slim_module(groups, plan)
    slim_onnx = export_onnx(module, torch.randn(1, 3, res, res), exporter=exporter)

    x = np.random.default_rng(0).standard_normal((1, 3, res, res)).astype(np.float32)
    name_in = dense_onnx.proto.graph.input[0].name
    expected = run(rewritten, {name_in: x})
    got = run(slim_onnx, {slim_onnx.proto.graph.input[0].name: x})
    assert compare_outputs(["logits"], got, expected).ok
    dense = run(dense_onnx, {name_in: x})
    assert not np.allclose(dense[0], expected[0], rtol=1e-3, atol=1e-3)  # the plan did something
    with torch.no_grad():
        torch_out = module.eval()(torch.from_numpy(x)).numpy()
    assert np.allclose(torch_out, expected[0], rtol=1e-3, atol=1e-4)


def test_slim_module_equals_masked_module():
    torch.manual_seed(0)
    model = DigitsNet().eval()
    x, _ = digits_tensors()
    groups = module_groups(model, x[:2])
    plan = keep_most(groups, seed=1, low=0.3)
    masks = ChannelMasks(groups)
    masks.apply(plan)
    with torch.no_grad():
        masked = model(x[:64])
    masks.remove()
    slim_module(groups, plan)
    with torch.no_grad():
        slim = model(x[:64])
    assert torch.allclose(masked, slim, atol=1e-5)
    assert model.conv_a.out_channels == len(plan.keep[_group_of(groups, "conv_a", "out")])


def _group_of(groups, module_name: str, side: str) -> str:
    """The group a module's layer writes ("out") or reads ("in")."""
    for g in groups.prunable():
        layers = g.producers if side == "out" else g.consumers
        if any(groups.capture.modules.get(n) == module_name for n in layers):
            return g.id
    raise KeyError(module_name)


def test_optimizer_state_follows_and_training_continues():
    torch.manual_seed(0)
    model = DigitsNet()
    x, y = digits_tensors()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(x[:64]), y[:64]).backward()
        opt.step()
    groups = module_groups(model, x[:2])
    plan = keep_most(groups, seed=2)
    old_momentum = opt.state[model.conv_a.weight]["momentum_buffer"].clone()
    result = slim_module(groups, plan, optimizer=opt)
    new_weight = model.conv_a.weight
    assert any(new_weight is p for p in result.replaced.values())
    rows = plan.keep[_group_of(groups, "conv_a", "out")]
    cols = plan.keep[_group_of(groups, "conv_a", "in")]
    assert torch.equal(opt.state[new_weight]["momentum_buffer"], old_momentum[rows][:, cols])
    params = [p for g in opt.param_groups for p in g["params"]]
    assert all(any(p is q for p in params) for q in model.parameters())
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x[:64]), y[:64])
        loss.backward()
        opt.step()
    assert torch.isfinite(loss)


class TokenMLP(nn.Module):
    """A transformer-style block: LayerNorm over the width (frozen) and an MLP whose
    hidden units are prunable."""

    def __init__(self, width=12, hidden=32):
        super().__init__()
        self.embed = nn.Linear(6, width)
        self.norm = nn.LayerNorm(width)
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)
        self.head = nn.Linear(width, 3)

    def forward(self, x):
        h = self.embed(x)
        h = h + self.down(F.gelu(self.up(self.norm(h))))
        return self.head(h.mean(1))


def test_layernorm_model_slims_and_exports():
    torch.manual_seed(0)
    model = TokenMLP().eval()
    x = torch.randn(2, 5, 6)
    groups = module_groups(model, x)
    assert [g.size for g in groups.prunable()] == [32]
    plan = keep_most(groups, seed=0)
    dense_onnx = export_onnx(model, x)
    onnx_groups = analyze(dense_onnx)
    expected = run(prune_channels(dense_onnx, translate_plan(plan, groups.groups, onnx_groups), onnx_groups),
                   {"input": x.numpy()})
    slim_module(groups, plan)
    assert model.up.out_features == len(next(iter(plan.keep.values())))
    assert model.norm.normalized_shape == (12,)
    got = run(export_onnx(model, x, exporter="dynamo"), {"input": x.numpy()})
    assert compare_outputs(["y"], got, expected).ok


def test_refusals_are_clear():
    groups = module_groups(TokenMLP(), torch.randn(2, 5, 6))
    inner = next(g for g in groups.prunable() if not g.cut)  # the MLP hidden units
    with pytest.raises(PlanError, match="keep at least one channel"):
        slim_module(groups, PruningPlan({inner.id: []}))
    with pytest.raises(PlanError, match="unknown group"):
        slim_module(groups, PruningPlan({"g999": [0]}))
    masks = ChannelMasks(groups)
    masks.install()
    with pytest.raises(PlanError, match="parametrized"):
        slim_module(groups, PruningPlan({inner.id: [0, 1]}))
