"""Group counts of real exported models, under both exporters, against the architecture.

Expected prunable counts, derived from each architecture:
- resnet18: 8 basic blocks' inner channels + 4 residual streams (the stem joins layer1's) = 12
- resnet50 / resnext50_32x4d: 16 bottlenecks x (conv1, conv2) + 4 streams + stem = 37
- mobilenet_v2: stem/first dw (1) + 16 expansions + 7 streams (16..320) + the 1280 conv = 25
- mobilenet_v3_large: stem stream (1) + 14 expansions + 8 SE hidden + 5 more streams
  + last conv (960) + classifier hidden (1280) = 30
- efficientnet_b0: stem/first dw (1) + 16 SE hidden + 15 expansions + 7 streams + head = 40
- densenet121: 58 dense layers x (bottleneck, growth) + stem + 3 transitions = 120
- regnet_y_400mf: 16 blocks x (conv a, grouped conv b, SE hidden) + 4 streams + stem = 53
- convnext_tiny: 18 blocks' MLP hidden (LayerNorm freezes the streams) = 18
- shufflenet_v2_x1_0: 16 branch-internal groups + stem + conv5 (shuffles freeze the rest) = 18
- squeezenet1_0: conv1 + 8 fires x (squeeze, expand1x1, expand3x3) = 25
- googlenet: 3 stem convs + 9 inception modules x 6 branch convs = 57
- vit_b_16: 12 encoder MLP hidden dims (LayerNorm freezes the width, heads stay frozen) = 12
"""

from __future__ import annotations

import pytest

EXPECTED = {
    "resnet18": (12, 4), "resnet50": (37, 5), "resnext50_32x4d": (37, 5), "mobilenet_v2": (25, 15),
    "mobilenet_v3_large": (30, None), "efficientnet_b0": (40, None), "densenet121": (120, 4),
    "regnet_y_400mf": (53, 5), "convnext_tiny": (18, 0), "shufflenet_v2_x1_0": (18, None),
    "squeezenet1_0": (25, None), "googlenet": (57, 3), "vit_b_16": (12, 0),
}


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_prunable_groups_match_architecture(grouped, name, exporter):
    _, groups = grouped(name, exporter)
    prunable, cuts = EXPECTED[name]
    assert len(groups.prunable()) == prunable
    if cuts is not None:
        assert sum(g.cut for g in groups.prunable()) == cuts
    reasons = " ".join(g.reason for g in groups if not g.prunable)
    assert "graph input" in reasons and "graph output" in reasons


def test_resnext_inner_groups_prune_in_32_blocks(grouped):
    _, groups = grouped("resnext50_32x4d")
    assert sorted({g.blocks for g in groups.prunable()}) == [1, 32]
    assert sum(g.blocks == 32 for g in groups.prunable()) == 32  # conv1 out and conv2 out x 16


def test_both_exporters_agree_on_group_sizes(grouped):
    for name in ("resnet50", "mobilenet_v2", "densenet121"):
        a = sorted(g.size for g in grouped(name, "legacy")[1].prunable())
        b = sorted(g.size for g in grouped(name, "dynamo")[1].prunable())
        assert a == b, name


def test_legacy_identity_chains_to_shared_initializers(zoo):
    """With default BN statistics the legacy exporter shares equal bias initializers through
    Identity nodes; grouping must not couple the convs that share them."""
    from halp_graph.graph import analyze, load_model
    model = load_model(zoo("resnet18", "legacy", bn="default"))
    assert any(n.op_type == "Identity" for n in model.proto.graph.node)
    assert len(analyze(model).prunable()) == 12


TIMM = {"timm:tresnet_m": 57, "timm:hgnetv2_b0": 30, "timm:mobilevit_xs": None,
        "timm:nf_resnet26": 21}


@pytest.mark.parametrize("exporter", ["legacy", "dynamo"])
@pytest.mark.parametrize("name", sorted(TIMM))
def test_timm_models(grouped, name, exporter):
    """timm families with awkward graphs: anti-aliased Pads computed at run time (TResNet),
    reflect padding (HGNetV2), attention blocks (MobileViT), weight standardisation over a
    reshaped copy of the weight (NF-ResNet: batch norm in training mode under legacy,
    decomposed under dynamo), whose computed weights become parameters of their own."""
    _, groups = grouped(name, exporter)
    if TIMM[name] is not None:
        assert len(groups.prunable()) == TIMM[name]
    if name.endswith("nf_resnet26"):
        weights = [groups.graph.tensor(n.inputs[1]) for n in groups.graph.nodes if n.op_type == "Conv"]
        assert all(t.computed is not None or t.is_initializer for t in weights)  # dynamo folds a few
        assert sum(t.computed is not None for t in weights) > len(weights) // 2
        assert all("graph" in g.reason for g in groups if not g.prunable)
