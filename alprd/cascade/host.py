"""The cascade's steps around the nets on the host (CPU backends): numpy/OpenCV in
alprd.backends.prepost. Frames are letterboxed straight into one reused uint8 batch, the nets fed
uint8 (normalisation is inside the ONNX graphs), the score threshold applied over the whole batch
at once, plates warped into one reused uint8 array (low-contrast ones stretched:
alprd.cascade.photometric)."""
from __future__ import annotations

import numpy as np

from alprd.backends import prepost as pp
from alprd.cascade.frames import groups
from alprd.cascade.photometric import MIN_RANGE, stretch_low_contrast
from alprd.model import geometry


class HostPath:
    """Strategy of alprd.cascade.Recognizer; DevicePath has the same four methods."""

    name = "host"

    def __init__(self, backend, det_size: int, stretch_below: float = MIN_RANGE) -> None:
        self.backend = backend
        self.stretch_below = stretch_below
        self._letterbox = pp.Letterboxer(det_size, tight=True)
        self._warper = pp.PlateWarper()

    def candidates(self, frames: list[np.ndarray], threshold: float, z: float
                   ) -> list[tuple[np.ndarray, np.ndarray, geometry.Letterbox]]:
        """Per frame: (corners K×4×2 in view pixels, scores K, its letterbox), before NMS; one
        detector call per view shape."""
        out: list = [None] * len(frames)
        for idx in groups(frames, self._letterbox.view_shape):
            batch, boxes = self._letterbox([frames[i] for i in idx])
            cands = pp.decode_batch(self.backend.detect_u8(batch), threshold, z)
            for i, (c, s), lb in zip(idx, cands, boxes):
                out[i] = (c, s, lb)
        return out

    def hold(self, frames: list[np.ndarray]) -> None:
        """Nothing to keep: the host warps straight out of the frames."""

    def release(self) -> None:
        pass

    def plate_logits(self, frames: list[np.ndarray], plates: list[tuple[int, np.ndarray]]) -> np.ndarray:
        """(frame index, corners) → N×T×C logits, in one RSNet call."""
        return self.backend.read_u8(stretch_low_contrast(self._warper(frames, plates), self.stretch_below))
