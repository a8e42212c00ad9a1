"""DSNet: the detection net of SLPNet. Predicts, per cell of a stride-16 grid, four corner scores
(Gaussian-score confidences, sigmoid) and eight corner offsets in the cube-root space.

Fully convolutional: any input whose sides are multiples of 32 gives a (H/16, W/16) map, so the
serving input policy (letterbox size) can change without retraining the architecture.
"""
from __future__ import annotations

import torch
from torch import nn

from alprd.model.blocks import GCBlock, ShuffleDown, ShuffleUnit, StemBlock, conv_bn_relu, resize_to

STRIDE = 16          # pyramid level l = 4: one output cell per 2**4 input pixels
NUM_OUTPUTS = 12     # 4 corner scores + 8 offsets (x, y for TL, TR, BR, BL)


class Stage(nn.Module):
    """Down-sampling unit + repeated units, a skip connection across the stage, then a GC block."""

    def __init__(self, cin: int, cout: int, repeats: int):
        super().__init__()
        self.down = ShuffleDown(cin, cout)
        self.units = nn.Sequential(*[ShuffleUnit(cout) for _ in range(repeats)])
        self.gc = GCBlock(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.down(x)
        return self.gc(d + self.units(d))


class DSNet(nn.Module):
    def __init__(self, widths=(48, 96, 192), repeats=(3, 5, 3), stem: int = 24, fuse: int = 64):
        super().__init__()
        self.stem = StemBlock(3, stem)
        self.stage2 = Stage(stem, widths[0], repeats[0])        # stride 8
        self.stage3 = Stage(widths[0], widths[1], repeats[1])   # stride 16
        self.stage4 = Stage(widths[1], widths[2], repeats[2])   # stride 32
        self.lat = nn.ModuleList(conv_bn_relu(w, fuse, 1) for w in widths)
        self.fuse = nn.Sequential(
            conv_bn_relu(3 * fuse, 3 * fuse, 3, groups=3 * fuse, relu=False),
            conv_bn_relu(3 * fuse, fuse, 1),
            GCBlock(fuse),
        )
        self.head = nn.Conv2d(fuse, NUM_OUTPUTS, 1)
        nn.init.constant_(self.head.bias[:4], -4.0)   # start from "no plate": stable focal loss
        nn.init.zeros_(self.head.bias[4:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B×3×H×W normalised image → B×12×(H/16)×(W/16); channels 0-3 are sigmoid scores."""
        out = self.forward_logits(x)
        return torch.cat((torch.sigmoid(out[:, :4]), out[:, 4:]), dim=1)

    def forward_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Raw head outputs (scores as logits) for numerically stable losses in training."""
        c2 = self.stage2(self.stem(x))
        c3 = self.stage3(c2)
        c4 = self.stage4(c3)
        size = c3.shape[-2:]
        feats = [resize_to(lat(c), size) for lat, c in zip(self.lat, (c2, c3, c4))]
        return self.head(self.fuse(torch.cat(feats, dim=1)))
