"""Building blocks shared by DSNet and RSNet.

Everything here exports cleanly to ONNX (no AdaptiveAvgPool with None sizes, no in-place tricks):
global pooling is a mean over the spatial axes.
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


def conv_bn_relu(cin: int, cout: int, k: int = 3, stride=1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    pad = k // 2
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def channel_shuffle(x: torch.Tensor, groups: int = 2) -> torch.Tensor:
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNetV2 basic unit (stride 1): split channels, transform one half, concat, shuffle."""

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.branch = nn.Sequential(
            conv_bn_relu(half, half, 1),
            conv_bn_relu(half, half, 3, groups=half, relu=False),
            conv_bn_relu(half, half, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return channel_shuffle(torch.cat((a, self.branch(b)), dim=1))


class ShuffleDown(nn.Module):
    """ShuffleNetV2 down-sampling unit: both branches stride, channels grow to `cout`."""

    def __init__(self, cin: int, cout: int, stride=2):
        super().__init__()
        half = cout // 2
        self.left = nn.Sequential(
            conv_bn_relu(cin, cin, 3, stride, groups=cin, relu=False),
            conv_bn_relu(cin, half, 1),
        )
        self.right = nn.Sequential(
            conv_bn_relu(cin, half, 1),
            conv_bn_relu(half, half, 3, stride, groups=half, relu=False),
            conv_bn_relu(half, half, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(torch.cat((self.left(x), self.right(x)), dim=1))


class GCBlock(nn.Module):
    """Global-context block (GCNet): attention-pooled context, bottleneck transform, added back.

    It lets every cell see the whole image cheaply, which helps tell plates from plate-like text.
    """

    def __init__(self, channels: int, ratio: float = 0.25):
        super().__init__()
        hidden = max(8, int(channels * ratio))
        self.attn = nn.Conv2d(channels, 1, 1)
        self.transform = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.LayerNorm([hidden, 1, 1]),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        weights = torch.softmax(self.attn(x).view(b, 1, h * w), dim=-1)          # B,1,HW
        context = torch.bmm(x.view(b, c, h * w), weights.transpose(1, 2))        # B,C,1
        return x + self.transform(context.view(b, c, 1, 1))


class StemBlock(nn.Module):
    """PeleeNet-style stem: a strided conv, then a conv branch and a max-pool branch in parallel.

    Reaches stride 4 with more channels than a plain conv+pool at about the same cost.
    """

    def __init__(self, cin: int = 3, cout: int = 32):
        super().__init__()
        self.conv1 = conv_bn_relu(cin, cout, 3, 2)
        self.branch_conv = nn.Sequential(conv_bn_relu(cout, cout // 2, 1), conv_bn_relu(cout // 2, cout, 3, 2))
        self.branch_pool = nn.MaxPool2d(2, 2)
        self.fuse = conv_bn_relu(2 * cout, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.fuse(torch.cat((self.branch_conv(x), self.branch_pool(x)), dim=1))


def global_mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(2, 3), keepdim=True)


def resize_to(x: torch.Tensor, size) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
