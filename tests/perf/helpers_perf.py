"""Helpers of the tests in tests/perf."""
from __future__ import annotations

import torch


def randomise_bn(*nets) -> None:
    """Non-trivial BatchNorm statistics, so folding them is really tested."""
    g = torch.Generator().manual_seed(1)
    for net in nets:
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.5)
                m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
