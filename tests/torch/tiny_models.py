"""Small networks and data for the torch tests: scikit-learn's 8x8 digits (bundled, no
download) and a CNN with the structures pruning must handle (a residual add, BatchNorm,
a flatten into a Linear, a Linear hidden layer without BatchNorm)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return x, torch.tensor(d.target, dtype=torch.long)


class DigitsNet(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.stem = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(width)
        self.conv_a = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn_a = nn.BatchNorm2d(2 * width)
        self.conv_b = nn.Conv2d(2 * width, 2 * width, 3, padding=1, bias=False)
        self.bn_b = nn.BatchNorm2d(2 * width)
        self.hidden = nn.Linear(2 * width * 16, 4 * width)
        self.head = nn.Linear(4 * width, 10)

    def forward(self, x):
        x = F.relu(self.bn0(self.stem(x)))
        x = F.max_pool2d(F.relu(self.bn_a(self.conv_a(x))), 2)
        x = F.relu(self.bn_b(self.conv_b(x)) + x)
        return self.head(F.relu(self.hidden(torch.flatten(x, 1))))
