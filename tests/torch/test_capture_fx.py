"""The fx front end finds the same groups as the ONNX front end, and maps them to parameters."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from halp_graph.errors import CaptureError
from halp_graph.graph import analyze, find_groups
from halp_graph.torch import capture_fx, export_onnx, match_groups, module_groups

BOTH_FRONT_ENDS = ["resnet50", "mobilenet_v2", "efficientnet_b0", "regnet_y_400mf",
                   "densenet121"]


def signature(groups) -> Counter:
    return Counter((g.size, g.prunable, g.cut, g.blocks) for g in groups)


@pytest.mark.parametrize("name", BOTH_FRONT_ENDS)
def test_fx_groups_equal_onnx_groups(zoo_module, zoo_onnx, name):
    module, res = zoo_module(name)
    fx_groups = find_groups(capture_fx(module, torch.randn(1, 3, res, res)).graph)
    onnx_groups = analyze(zoo_onnx(name))
    assert signature(fx_groups) == signature(onnx_groups)
    # group by group, through the layers both captures share
    mapping = match_groups(fx_groups, onnx_groups)
    assert len(mapping) >= len(fx_groups.prunable())
    for a, b in mapping.items():
        ga, gb = fx_groups[a], onnx_groups[b]
        assert (ga.size, ga.prunable, ga.cut, ga.blocks) == (gb.size, gb.prunable, gb.cut, gb.blocks)


def test_members_map_to_module_parameters(zoo_module):
    module, res = zoo_module("resnet50")
    groups = module_groups(module, torch.randn(1, 3, res, res))
    seen = set()
    for g in groups.prunable():
        members = groups.param_members(g)
        assert any(pm.op_type == "BatchNormalization" for pm in members)
        for pm in members:
            tensor = groups.attribute(pm.ref)  # the real module attribute, sized for the group
            assert tensor.shape[pm.axis] >= pm.member.elem_start + g.size * pm.member.block
            seen.add(pm.ref.qualname)
    names = dict(module.named_parameters())
    assert "layer1.0.conv2.weight" in seen and "layer1.0.bn2.weight" in seen and "fc.weight" in seen
    assert seen - set(dict(module.named_buffers())) <= set(names)


class Functional(nn.Module):
    """Torch functions rather than modules: F.conv2d on a parameter, cat, slicing,
    permute, mean, a Linear over a 3-D tensor (MatMul + Add)."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(8, 3, 3, 3) * 0.3)
        self.c2 = nn.Conv2d(8, 6, 1)
        self.c3 = nn.Conv2d(14, 10, 3, padding=1)
        self.mix = nn.Linear(10, 12)
        self.head = nn.Linear(12, 4)

    def forward(self, x):
        a = F.relu(F.conv2d(x, self.w1, padding=1))
        b = torch.sigmoid(self.c2(a))
        y = F.silu(self.c3(torch.cat([a, b], dim=1)))
        tokens = y.flatten(2).permute(0, 2, 1)  # [N, HW, C]
        tokens = F.gelu(self.mix(tokens))
        return self.head(tokens.mean(dim=1))


def test_functional_model_groups_equal_onnx():
    model = Functional().eval()
    x = torch.randn(2, 3, 8, 8)
    fx_groups = find_groups(capture_fx(model, x).graph)
    onnx_groups = analyze(export_onnx(model, x))
    assert signature(fx_groups) == signature(onnx_groups)
    assert len(fx_groups.prunable()) == 4  # conv w1, c2, c3 outputs, mix hidden
    match_groups(fx_groups, onnx_groups)


class WithLiteralView(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 64, 5)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).view(-1, 16, 64).reshape(x.shape[0], -1))


def test_literal_channel_count_freezes_group_for_modules_only():
    model = WithLiteralView().eval()
    x = torch.randn(2, 3, 8, 8)
    raw = find_groups(capture_fx(model, x).graph)
    assert len(raw.prunable()) == 1  # the ONNX rewrite could edit the constant
    groups = module_groups(model, x)
    assert len(groups.prunable()) == 0
    assert any("spells out size 16" in (g.reason or "") for g in groups)


class Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.again = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        x = F.relu(self.again(F.relu(self.again(F.relu(self.conv(x))))))
        return self.head(x.mean((2, 3)))


def test_module_called_twice_freezes_its_groups():
    groups = module_groups(Shared(), torch.randn(1, 3, 8, 8))
    frozen = [g for g in groups if g.reason and "again.weight is used by 2 ops" in g.reason]
    assert frozen and not groups.prunable()


class Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gate = DataDependent()
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x):
        return self.head(self.gate(self.conv(x)))


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # control flow on a value: fx cannot trace this
            return F.relu(x)
        return x


def test_untraceable_module_names_it_and_the_way_out():
    with pytest.raises(CaptureError) as err:
        capture_fx(Untraceable(), torch.randn(1, 3, 8, 8))
    msg = str(err.value)
    assert "'gate'" in msg and "DataDependent" in msg and "leaf_modules" in msg and "ONNX" in msg


def test_leaf_module_becomes_opaque_and_freezes_its_channels():
    for leaf in (["gate"], [DataDependent]):
        groups = module_groups(Untraceable(), torch.randn(1, 3, 8, 8), leaf_modules=leaf)
        conv_out = [g for g in groups if "conv" in str(g.producers)]
        assert conv_out and all(not g.prunable for g in conv_out)
        assert "no channel rule for torch::DataDependent" in conv_out[0].reason


def test_capture_keeps_module_state():
    module = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    before = module[1].running_mean.clone()
    capture_fx(module, torch.randn(2, 3, 8, 8) + 5)
    assert module.training and module[1].training
    assert torch.equal(module[1].running_mean, before)


def test_bad_input_is_one_clear_error():
    with pytest.raises(CaptureError, match="needs a torch.nn.Module"):
        capture_fx("model.onnx", torch.randn(1))
    with pytest.raises(CaptureError, match="example input"):
        capture_fx(nn.Conv2d(3, 4, 3), torch.randn(1, 5, 8, 8))
