"""The small MobileNetV3-style network for Fashion-MNIST, the second reference model.

A strided stem (28x28 -> 14x14), then six inverted residual blocks (1x1 expand, 3x3
depthwise, squeeze-excite, 1x1 project; a residual add where the shapes match) at
14x14, 7x7 and 4x4 with widths 16, 24, 40 and 64, a final 1x1 conv with hardswish,
global average pooling and a linear classifier.
Unlike the ResNet it gives the pruner depthwise convolutions, whose channels are coupled
to the expand conv before them, and squeeze-excite gates, which multiply the expanded
channels by a per-channel scale. `load_reference()` returns the trained weights kept in
`models/fmnist_mobilenet.pt`; `models/fmnist_mobilenet.onnx` is the same network exported.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE_STATE = os.path.join(HERE, "fmnist_mobilenet.pt")
REFERENCE_ONNX = os.path.join(HERE, "fmnist_mobilenet.onnx")
INPUT_SHAPE = (1, 28, 28)

STEM = 16
# (expanded width, output width, stride) of each inverted residual block
BLOCKS = ((48, 16, 1), (64, 24, 2), (72, 24, 1), (96, 40, 2), (120, 40, 1), (160, 64, 1))
HEAD = 256


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        scale = F.adaptive_avg_pool2d(x, 1)
        scale = F.hardsigmoid(self.expand(F.relu(self.reduce(scale))))
        return x * scale


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, hidden: int, cout: int, stride: int = 1):
        super().__init__()
        self.expand = nn.Sequential(nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.Hardswish())
        self.depthwise = nn.Sequential(nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
                                       nn.BatchNorm2d(hidden), nn.Hardswish())
        self.se = SqueezeExcite(hidden, max(8, hidden // 4))
        self.project = nn.Sequential(nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        out = self.project(self.se(self.depthwise(self.expand(x))))
        return x + out if self.residual else out


class FashionMobileNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, STEM, 3, 2, 1, bias=False), nn.BatchNorm2d(STEM), nn.Hardswish())
        blocks, cin = [], STEM
        for hidden, cout, stride in BLOCKS:
            blocks.append(InvertedResidual(cin, hidden, cout, stride))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Conv2d(cin, HEAD, 1, bias=False), nn.BatchNorm2d(HEAD), nn.Hardswish())
        self.fc = nn.Linear(HEAD, num_classes)

    def forward(self, x):
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def example_input(batch: int = 1) -> torch.Tensor:
    return torch.zeros(batch, *INPUT_SHAPE)


def load_reference(path: str = REFERENCE_STATE) -> FashionMobileNet:
    """The trained MobileNet reference network (eval mode)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no trained MobileNet reference model; train one with "
                                f"`python -m halp_graph.models.train_fmnist_mobilenet`")
    model = FashionMobileNet()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
