"""Built (not trained) weights for benchmarks while the shipped weights are untrained.

Random nets detect nothing, so a benchmark of them would skip the warp, the read and the tracker.
These weights make the real cascade behave like a trained one on a simple scene: DSNet becomes a
stack of positive averaging filters (every conv averages its inputs, BatchNorm and the GC blocks
are identities), so its feature maps measure how much of each cell's surroundings is brighter than
mid-grey; the head turns that into a confident score where a bright plate is and a low one on a
dark background, with offsets that describe a plate-sized box around the cell. RSNet's classifier
always reads ``RIGGED_TEXT``. Same architecture and state_dict keys as the shipped weights, same
cost per frame: only the values differ.

Scenes to use them with: a dark background (grey < 100) and light plates about 130×40 pixels in the
detector's 512×512 view (benchmarks.scenes): then some 20 cells pass the threshold and NMS keeps one
read per plate, as with a trained detector.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

RIGGED_TEXT = "A"        # RSNet's logits are the same at every step: one character
BOX = (360.0, 120.0)      # the box the offsets describe, view pixels (w, h): large, so
                          # that NMS merges the cells of one plate into one read


def make_bright_plate_weights(path: str | Path, gain: float = 100.0, level: float = 0.18) -> Path:
    from alprd.model import geometry
    from alprd.model.blocks import GCBlock
    from alprd.model.charset import CHARS
    from alprd.model.dsnet import DSNet
    from alprd.model.rsnet import RSNet
    from alprd.model.weights import save_weights

    torch.manual_seed(0)
    ds, rs = DSNet().eval(), RSNet().eval()
    with torch.no_grad():
        for m in ds.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.fill_(1.0 / fan_in)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.fill_(1.0)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
        for m in ds.modules():
            if isinstance(m, GCBlock):      # x + 0: an identity
                m.transform[-1].weight.zero_()
                m.transform[-1].bias.zero_()
        for lat in list(ds.lat)[1:]:      # only the stride-8 level: a compact blob per plate
            lat[0].weight.zero_()
        w, h = BOX
        quad = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float32)
        t = geometry.encode_offsets(quad, np.zeros(2, np.float32))
        head = ds.head
        head.weight.zero_()
        head.weight[:4] = gain / head.in_channels     # score logit = gain * (mean feature - level)
        head.bias[:4] = -gain * level
        head.bias[4:12] = torch.from_numpy(t.astype(np.float32))
        last = rs.classifier[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[CHARS.index(RIGGED_TEXT) + 1] = 12.0
    path = Path(path)
    save_weights(path, ds, rs, meta={"rigged": "bright-plate", "text": RIGGED_TEXT})
    return path
