"""The small ResNet-style network for Fashion-MNIST behind the reference model.

A strided stem (28x28 -> 14x14), then three stages of one basic block each (14x14, 7x7,
4x4; widths w, 2w, 4w), strided blocks with a 1x1 projection shortcut, global average
pooling and a linear classifier.
Its residual streams, the blocks' inner channels and the stem give the pruner coupled
groups of every common kind. `load_reference()` returns the trained weights kept in
`models/fmnist_resnet.pt`; `models/fmnist_resnet.onnx` is the same network exported.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE_STATE = os.path.join(HERE, "fmnist_resnet.pt")
REFERENCE_ONNX = os.path.join(HERE, "fmnist_resnet.onnx")
INPUT_SHAPE = (1, 28, 28)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        skip = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + skip)


class FashionResNet(nn.Module):
    def __init__(self, width: int = 32, num_classes: int = 10):
        super().__init__()
        self.width = width
        self.stem = nn.Sequential(nn.Conv2d(1, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.stage1 = BasicBlock(width, width)
        self.stage2 = BasicBlock(width, 2 * width, stride=2)
        self.stage3 = BasicBlock(2 * width, 4 * width, stride=2)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x):
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def example_input(batch: int = 1) -> torch.Tensor:
    return torch.zeros(batch, *INPUT_SHAPE)


def load_reference(path: str = REFERENCE_STATE) -> FashionResNet:
    """The trained reference network (eval mode)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no trained reference model; train one with "
                                f"`python -m halp_graph.models.train_fmnist`")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = FashionResNet(width=int(state.pop("_width", torch.tensor(32)).item()))
    model.load_state_dict(state)
    return model.eval()
