"""RSNet: the recognition net of SLPNet. Reads a rectified plate crop into per-time-step class
scores for CTC, so 7- and 8-character plates decode from the same head.

Layout: stem → four parallel down-sampling blocks (PDB a–d) with ShuffleNetV2 units between them
→ global-context embedding → multi-level aggregation (features of three depths pooled to the final
grid and concatenated) → 1×1 classifier → mean over height.
"""
from __future__ import annotations

import torch
from torch import nn

from alprd.model.blocks import ShuffleUnit, conv_bn_relu, global_mean
from alprd.model.charset import NUM_CLASSES

INPUT_SIZE = (144, 48)  # width, height of the rectified plate
TIME_STEPS = 18         # = width / 8


class PDB(nn.Module):
    """Parallel down-sampling block: a strided depthwise-separable conv and a max-pool + 1×1 conv
    side by side. The pool branch keeps thin strokes that a strided conv alone can alias away."""

    def __init__(self, cin: int, cout: int, stride: tuple[int, int]):
        super().__init__()
        half = cout // 2
        self.conv = nn.Sequential(
            conv_bn_relu(cin, cin, 3, stride, groups=cin, relu=False),
            conv_bn_relu(cin, half, 1),
        )
        self.pool = nn.Sequential(nn.MaxPool2d(stride, stride), conv_bn_relu(cin, cout - half, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.conv(x), self.pool(x)), dim=1)


class RSNet(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES, widths=(64, 128, 192, 256), agg: int = 128):
        super().__init__()
        self.stem = conv_bn_relu(3, 32, 3, 1)
        self.pdb_a = PDB(32, widths[0], (2, 2))          # 24×72
        self.units_a = nn.Sequential(ShuffleUnit(widths[0]))
        self.pdb_b = PDB(widths[0], widths[1], (2, 2))   # 12×36
        self.units_b = nn.Sequential(ShuffleUnit(widths[1]), ShuffleUnit(widths[1]))
        self.pdb_c = PDB(widths[1], widths[2], (2, 2))   # 6×18
        self.units_c = nn.Sequential(ShuffleUnit(widths[2]), ShuffleUnit(widths[2]))
        self.pdb_d = PDB(widths[2], widths[3], (2, 1))   # 3×18
        self.units_d = nn.Sequential(ShuffleUnit(widths[3]))
        self.levels = nn.ModuleList(conv_bn_relu(w, agg, 1) for w in widths[1:])
        # static pooling kernels that bring the b (12×36) and c (6×18) maps to d's 3×18 grid
        self.pools = nn.ModuleList((nn.AvgPool2d((4, 2)), nn.AvgPool2d((2, 1)), nn.Identity()))
        self.context = nn.Sequential(nn.Conv2d(widths[3], agg, 1), nn.ReLU(inplace=True))
        self.classifier = nn.Sequential(
            conv_bn_relu(4 * agg, 2 * agg, 1),
            nn.Dropout2d(0.1),
            nn.Conv2d(2 * agg, num_classes, 1),
        )

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Also takes weights from before a class was appended to the charset (挂): see fit_head."""
        return super().load_state_dict(fit_head(state_dict, self.classifier[2].out_channels), strict, assign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B×3×48×144 → logits B×T×C (T = 18 time steps)."""
        b = self.units_b(self.pdb_b(self.units_a(self.pdb_a(self.stem(x)))))
        c = self.units_c(self.pdb_c(b))
        d = self.units_d(self.pdb_d(c))
        h, w = d.shape[-2:]
        feats = [lvl(pool(f)) for lvl, pool, f in zip(self.levels, self.pools, (b, c, d))]
        ctx = self.context(global_mean(d)).expand(-1, -1, h, w)
        logits = self.classifier(torch.cat(feats + [ctx], dim=1))   # B×C×h×w
        return logits.mean(dim=2).transpose(1, 2)                     # B×T×C


def fit_head(state: dict, num_classes: int = NUM_CLASSES) -> dict:
    """An RSNet state dict whose classifier has fewer classes than `num_classes` (weights from
    before 挂 was appended to the charset), padded: the new classes get zero weights and a -20
    bias, so the old weights read exactly as before and never emit them. Others: unchanged."""
    w, b = state.get("classifier.2.weight"), state.get("classifier.2.bias")
    if w is None or b is None or w.shape[0] >= num_classes:
        return state
    extra = num_classes - w.shape[0]
    state = dict(state)
    state["classifier.2.weight"] = torch.cat([w, w.new_zeros((extra,) + tuple(w.shape[1:]))])
    state["classifier.2.bias"] = torch.cat([b, b.new_full((extra,), -20.0)])
    return state
