"""The cascade's steps around the nets on the model's device (torch, chosen on CUDA):
alprd.backends.torch_prepost. Frames are uploaded once as uint8; letterbox, normalisation,
decoding and the warp run on the device; only candidate quads visit the host (for NMS), and the
rectified plates never leave the device before RSNet."""
from __future__ import annotations

import numpy as np

from alprd.cascade.frames import groups
from alprd.cascade.photometric import MIN_RANGE, stretch_low_contrast_torch
from alprd.model import geometry


class DevicePath:
    """Strategy of alprd.cascade.Recognizer (see HostPath). Between hold() and release() it keeps
    the frames' device copies, so detection and the warps share one upload."""

    name = "device"

    def __init__(self, backend, det_size: int, stretch_below: float = MIN_RANGE) -> None:
        if not hasattr(backend, "run_dsnet"):
            raise ValueError("prepost 'device' needs the torch backend")
        self.backend = backend
        self.det_size = det_size
        self.stretch_below = stretch_below
        self._frames: list = []

    def hold(self, frames: list[np.ndarray]) -> list[tuple[list[int], object]]:
        """Frames to the device, one upload per frame shape (the staging buffer is per shape)
        → [(frame indices, N×H×W×3 uint8 tensor)]."""
        self._frames = [None] * len(frames)
        out = []
        for idx in groups(frames, lambda f: f.shape):
            up = self.backend.upload([frames[i] for i in idx])
            for j, i in enumerate(idx):
                self._frames[i] = up[j]
            out.append((idx, up))
        return out

    def release(self) -> None:
        self._frames = []

    def candidates(self, frames: list[np.ndarray], threshold: float, z: float
                   ) -> list[tuple[np.ndarray, np.ndarray, geometry.Letterbox]]:
        """Frames held on the device (kept for the warps), one tight letterbox per frame shape,
        one DSNet call per view shape → per frame (view corners, scores, letterbox)."""
        import torch

        from alprd.backends import torch_prepost as tp

        boxes: list = [None] * len(frames)
        by_frame: list = [None] * len(frames)
        by_view: dict[tuple, list] = {}   # view shape → [(frame indices, views)]
        with torch.inference_mode():
            for idx, up in self.hold(frames):
                view, lb = tp.letterbox(up, self.det_size, tight=True)
                by_view.setdefault(tuple(view.shape[2:]), []).append((idx, view))
                for i in idx:
                    boxes[i] = lb
            for parts in by_view.values():
                views = [v for _, v in parts]
                maps = self.backend.run_dsnet(tp.normalize(torch.cat(views) if len(views) > 1 else views[0]))
                cands = iter(tp.decode_candidates(maps, threshold, z))
                for idx, _ in parts:
                    for i in idx:
                        by_frame[i] = next(cands)
        return [(c, s, lb) for (c, s), lb in zip(by_frame, boxes)]

    def plate_logits(self, frames: list[np.ndarray], plates: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """(frame index, corners) of held frames → N×T×C logits: one warp per frame, one RSNet
        call for all."""
        import torch

        from alprd.backends import torch_prepost as tp

        by_frame = groups(plates, lambda p: p[0])
        with torch.inference_mode():
            crops = [tp.warp_plates(self._frames[plates[ks[0]][0]], np.stack([plates[k][1] for k in ks]))
                     for ks in by_frame]
            crops = stretch_low_contrast_torch(torch.cat(crops), self.stretch_below)
            logits = self.backend.run_rsnet(tp.normalize(crops)).float().cpu().numpy()
        out = np.empty_like(logits)
        out[[k for ks in by_frame for k in ks]] = logits
        return out
