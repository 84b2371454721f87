"""HALPPruner on a real (small) training run: schedule, masks, saliency, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from halp_graph.cost_model import MacsCostModel, predict
from halp_graph.plan import PruningPlan
from halp_graph.torch import (ChannelMasks, HALPPruner, PruningSchedule, StraightThroughMasks,
                              TaylorSaliency, module_groups, select)

from tiny_models import DigitsNet, digits_tensors


def train_with_pruner(seed: int = 0, soft_masks: bool = False, budget: float = 0.4,
                      iterations: int = 70, poison: int | None = None):
    torch.manual_seed(seed)
    model = DigitsNet()
    x, y = digits_tensors()
    pruner = HALPPruner(model, x[:2], budget=budget, interval=8, steps=5, start=10, soft_masks=soft_masks)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    for it in range(iterations):
        idx = torch.randint(0, len(x), (64,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), y[idx])
        if it == poison:
            loss = loss * float("nan")
        opt.zero_grad()
        loss.backward()
        pruner.step()
        if it == poison:
            opt.zero_grad()  # do not let the poisoned gradient into the weights
        opt.step()
    return model, pruner, opt, (x, y)


def test_schedule_anneals_geometrically():
    s = PruningSchedule(budget=0.25, interval=10, steps=4, start=5)
    assert [i for i in range(1, 80) if s.step_at(i)] == [15, 25, 35, 45]
    assert [s.step_at(i) for i in (15, 25, 35, 45)] == [1, 2, 3, 4]
    assert [round(s.target_fraction(k), 6) for k in range(1, 5)] == \
        [round(0.25 ** (k / 4), 6) for k in range(1, 5)]
    assert s.target_fraction(4) == pytest.approx(0.25) and s.last_iteration == 45
    with pytest.raises(ValueError, match="budget"):
        PruningSchedule(budget=1.5, interval=1, steps=1)


def test_select_meets_target_keeping_the_salient_channels():
    torch.manual_seed(0)
    model = DigitsNet()
    x, _ = digits_tensors()
    groups = module_groups(model, x[:2]).groups
    cost = MacsCostModel(groups)
    rng = np.random.default_rng(0)
    scores = {g.id: rng.random(g.size) for g in groups.prunable()}
    target = 0.5 * cost.dense_cost()
    plan = select(groups, cost, scores, target)
    plan.validate(groups)
    kept = plan.kept_counts(groups)
    assert predict(cost, groups, kept) <= target
    for gid, idx in plan.keep.items():
        assert idx, "never empties a group"
        dropped = np.setdiff1d(np.arange(groups[gid].size), idx)
        assert scores[gid][idx].min() >= scores[gid][dropped].max()
    assert select(groups, cost, scores, target).keep == plan.keep  # deterministic
    coarse = MacsCostModel(groups, granularity=8)
    for gid, count in select(groups, coarse, scores, target).kept_counts(groups).items():
        assert count % 8 == 0 or count == groups[gid].size or count == 1


def test_pruner_follows_schedule_and_slims_to_the_masked_network():
    model, pruner, opt, (x, y) = train_with_pruner()
    assert pruner.done and len(pruner.history) == 5
    assert [e.iteration for e in pruner.history] == [18, 26, 34, 42, 50]
    for e in pruner.history:
        assert e.predicted <= e.target + 1e-9
        assert e.target == pytest.approx(pruner.dense_cost * 0.4 ** (e.step / 5))
    # hard masks: kept sets only shrink
    for before, after in zip(pruner.history, pruner.history[1:]):
        for gid, idx in after.plan.keep.items():
            assert set(idx) <= set(before.plan.keep.get(gid, range(10**6)))
    model.eval()
    with torch.no_grad():
        masked = model(x[:128])
    pruner.finalize(opt)
    with torch.no_grad():
        slim = model(x[:128])
    assert torch.allclose(masked, slim, atol=1e-4)
    assert sum(p.numel() for p in model.parameters()) < sum(p.numel() for p in DigitsNet().parameters())
    model.train()
    loss = F.cross_entropy(model(x[:64]), y[:64])
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert math.isfinite(loss.item())


def test_pruning_is_deterministic():
    plans_a = [e.plan.keep for e in train_with_pruner(seed=1)[1].history]
    plans_b = [e.plan.keep for e in train_with_pruner(seed=1)[1].history]
    assert plans_a == plans_b


def test_non_finite_iterations_are_skipped():
    _, pruner, _, _ = train_with_pruner(poison=12, iterations=20)
    assert pruner.taylor.skipped == 1
    assert all(np.isfinite(s).all() for s in pruner.last_scores.values())


def test_hard_masks_stop_gradients_soft_masks_pass_them():
    outputs = {}
    for soft in (False, True):
        torch.manual_seed(0)
        model = DigitsNet()
        x, y = digits_tensors()
        groups = module_groups(model, x[:2])
        g = next(g for g in groups.prunable() if "stem" in str(g.producers))
        plan = PruningPlan({g.id: list(range(0, g.size, 2))})
        masks = StraightThroughMasks(groups) if soft else ChannelMasks(groups)
        masks.apply(plan)
        out = model(x[:64])
        outputs[soft] = out.detach()
        F.cross_entropy(out, y[:64]).backward()
        stem = model.stem.parametrizations.weight.original if not soft else model.stem.weight
        removed_grad = stem.grad[1::2].abs().sum().item()
        assert (removed_grad > 0) == soft  # only the straight-through estimator lets it learn
        if not soft:
            assert model.stem.weight[1::2].abs().sum().item() == 0
        masks.remove()
    assert torch.allclose(outputs[False], outputs[True], atol=1e-5)  # the same pruned forward


def test_taylor_saliency_is_halps_bn_formula():
    torch.manual_seed(0)
    model = DigitsNet()
    x, y = digits_tensors()
    groups = module_groups(model, x[:2])
    taylor = TaylorSaliency(groups)
    F.cross_entropy(model(x[:64]), y[:64]).backward()
    taylor.commit()
    scores = taylor.scores()
    bn = model.bn0
    expected = (bn.weight * bn.weight.grad + bn.bias * bn.bias.grad).abs().double()
    stem_group = next(g.id for g in groups.prunable() if "stem" in str(g.producers))
    assert torch.allclose(scores[stem_group], expected.detach())
    hidden = next(g.id for g in groups.prunable() if any("hidden" in p for p in g.producers))
    w = model.hidden  # no BatchNorm: |sum of w * dL/dw over the channel's parameters|
    manual = ((w.weight * w.weight.grad).sum(1) + w.bias * w.bias.grad
              + (model.head.weight * model.head.weight.grad).sum(0)).abs().double()
    assert torch.allclose(scores[hidden], manual.detach(), rtol=1e-5, atol=1e-9)
    taylor.remove()


def test_soft_masks_can_revive_channels_and_slim_exactly():
    model, pruner, opt, (x, _) = train_with_pruner(soft_masks=True, budget=0.3)
    revived = 0
    for before, after in zip(pruner.history, pruner.history[1:]):
        for gid, idx in after.plan.keep.items():
            revived += len(set(idx) - set(before.plan.keep.get(gid, idx)))
    assert pruner.done and revived > 0
    model.eval()
    with torch.no_grad():
        masked = model(x[:128])
    pruner.finalize(opt)
    with torch.no_grad():
        assert torch.allclose(model(x[:128]), masked, atol=1e-4)


def test_a_cost_model_built_on_the_onnx_export_prices_the_module():
    """The LUT integration path: a CostModel over the ONNX export's groups, used by the
    pruner on the fx groups through the layer correspondence."""
    from halp_graph.graph import analyze
    from halp_graph.torch import OnnxPricedCostModel, export_onnx

    torch.manual_seed(0)
    model = DigitsNet()
    x, _ = digits_tensors()
    onnx_groups = analyze(export_onnx(model, x[:2]))
    onnx_cost = MacsCostModel(onnx_groups, granularity=4)
    pruner = HALPPruner(model, x[:2], budget=0.5, interval=2, steps=2,
                        cost_model=lambda g: OnnxPricedCostModel(g, onnx_groups, onnx_cost))
    fx_groups = pruner.groups.groups
    assert pruner.dense_cost == pytest.approx(onnx_cost.dense_cost())
    plan = select(fx_groups, pruner.cost_model, {g.id: np.arange(g.size, dtype=float)
                                                 for g in fx_groups.prunable()}, 0.6 * pruner.dense_cost)
    from halp_graph.torch import translate_plan
    onnx_plan = translate_plan(plan, fx_groups, onnx_groups)
    assert predict(pruner.cost_model, fx_groups, plan.kept_counts(fx_groups)) == \
        pytest.approx(predict(onnx_cost, onnx_groups, onnx_plan.kept_counts(onnx_groups)))
    for count in plan.kept_counts(fx_groups).values():
        assert count % 4 == 0 or count in (1, 10)  # the ONNX side's candidate counts
