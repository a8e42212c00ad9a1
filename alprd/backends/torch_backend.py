"""Eager PyTorch backend: the reference, and the one used on CUDA (fp16 autocast)."""
from __future__ import annotations

import numpy as np
import torch

from alprd.model.dsnet import DSNet
from alprd.model.rsnet import RSNet


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class TorchBackend:
    name = "torch"

    def __init__(self, dsnet: DSNet, rsnet: RSNet, device: str = "auto"):
        self.device = pick_device(device)
        self.dsnet = dsnet.to(self.device).eval()
        self.rsnet = rsnet.to(self.device).eval()
        self._amp = self.device.type == "cuda"
        if self._amp:
            self.dsnet = self.dsnet.to(memory_format=torch.channels_last)

    def _run(self, net, x: torch.Tensor) -> np.ndarray:
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.float16, enabled=self._amp):
            out = net(x.to(self.device, non_blocking=True))
        return out.float().cpu().numpy()

    def detect(self, x: torch.Tensor) -> np.ndarray:
        """N×3×S×S normalised → N×12×S/16×S/16 (scores already sigmoid)."""
        return self._run(self.dsnet, x)

    def read(self, x: torch.Tensor) -> np.ndarray:
        """N×3×48×144 normalised → N×T×C logits."""
        return self._run(self.rsnet, x)
