"""PyTorch backend: the reference, and the one used on CUDA.

On CUDA: fp16 autocast, channels_last memory format for both nets, cuDNN autotuning for the fixed
input shapes, uint8 uploads through pinned memory with non-blocking copies (torch_prepost), and the
pre/post-processing on the device (alprd.cascade.device.DevicePath). On the CPU none of that is
touched: plain fp32 eager inference, nothing CUDA is initialised.
"""
from __future__ import annotations

import numpy as np
import torch

from alprd.backends import torch_prepost
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
        self.cuda = self.device.type == "cuda"
        self.dsnet = dsnet.to(self.device).eval()
        self.rsnet = rsnet.to(self.device).eval()
        self._amp = self.cuda
        if self.cuda:
            self.dsnet = self.dsnet.to(memory_format=torch.channels_last)
            self.rsnet = self.rsnet.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True   # few distinct shapes: autotune each once
        self.upload = torch_prepost.Uploader(self.device)

    # -- nets on device tensors (the device path)
    def run_dsnet(self, x: torch.Tensor) -> torch.Tensor:
        """N×3×S×S normalised, on the device → N×12×S/16×S/16 on the device."""
        return self._forward(self.dsnet, x)

    def run_rsnet(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self.rsnet, x)

    def _forward(self, net, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.float16, enabled=self._amp):
            x = x.to(self.device, non_blocking=True)
            if self.cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            return net(x)

    # -- the backend interface shared with OnnxBackend
    def detect(self, x: torch.Tensor) -> np.ndarray:
        """N×3×H×W normalised → N×12×H/16×W/16 (scores already sigmoid)."""
        return self.run_dsnet(x).float().cpu().numpy()

    def read(self, x: torch.Tensor) -> np.ndarray:
        """N×3×48×144 normalised → N×T×C logits."""
        return self.run_rsnet(x).float().cpu().numpy()

    def detect_u8(self, images: np.ndarray) -> np.ndarray:
        """N×H×W×3 uint8 BGR → N×12×H/16×W/16."""
        return self.detect(self._from_u8(images))

    def read_u8(self, plates: np.ndarray) -> np.ndarray:
        """N×48×144×3 uint8 BGR → N×T×C logits."""
        return self.read(self._from_u8(plates))

    def _from_u8(self, images: np.ndarray) -> torch.Tensor:
        with torch.inference_mode():
            return torch_prepost.normalize(self.upload(images).permute(0, 3, 1, 2).float())
