"""A closer look at a small plate's corners: DSNet again on a window around it, magnified.

The first pass sees a 1080p frame shrunk 3.75× into its 512-px view: a plate 130-230 px wide in the
frame is 35-60 px there, and DSNet's corners at that size are loose (on `ccpd_frame_dev`, CCPD dev
stills barely shrunk into a 1920×1080 street, a box 30 % too wide fails the IoU rule, and cut or
padded glyphs are misread: M→N, T→1, a dropped 1), although the same plates in their own 720×1160
stills (70-90 px in view) are all read right. The warp already takes the pixels from the full
frame, so what the small view loses is only the corners.

So a plate whose read is doubtful (alprd.model.rewarp.doubtful), in a frame the first pass saw
shrunk, and under ``max_view_width`` px wide in the first pass's view is looked at again: a ``view`` window centred
on it, magnified so the plate becomes about ``target_width`` px wide (the size DSNet sees CCPD
plates at), the window's box that best covers the first pass's (highest score among those whose
box IoU is at least MIN_IOU, not cut by the window's edge) is read, and the more confident read
(mean character confidence) wins, with its corners. One small window per doubtful small plate:
a frame whose plates are read confidently, or large, costs nothing more.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alprd.cascade import zoom
from alprd.model.geometry import quad_width as width

MIN_IOU = 0.3             # the window's box must cover the first pass's this much (bounding boxes)


@dataclass(frozen=True)
class RefinePolicy:
    """Which plates get a closer look, and how close. max_view_width 0 turns it off."""

    max_view_width: float = 64.0          # first-pass view px: narrower plates are refined
    target_width: float = 72.0            # the plate's width in the window (view px)
    view: tuple[int, int] = (256, 128)    # the window's DSNet view, width × height (multiples of 32)
    max_scale: float = 2.0                # at most this magnification of the frame
    threshold: float = 0.2                # DSNet score kept in the window (a plate is known to be there)

    def __post_init__(self):
        if self.view[0] % 32 or self.view[1] % 32:
            raise ValueError(f"refine view's sides must be multiples of 32, got {self.view}")

    @property
    def enabled(self) -> bool:
        return self.max_view_width > 0


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bounding-box IoU of quads a (K×4×2) against one quad b (4×2)."""
    a = np.asarray(a, np.float32).reshape(-1, 4, 2)
    lo, hi = a.min(1), a.max(1)
    blo, bhi = np.asarray(b, np.float32).min(0), np.asarray(b, np.float32).max(0)
    inter = np.clip(np.minimum(hi, bhi) - np.maximum(lo, blo), 0, None).prod(-1)
    union = (hi - lo).prod(-1) + (bhi - blo).prod(-1) - inter
    return inter / np.maximum(union, 1e-6)


class Refiner:
    """Windows around plates → refined corners (frame px) or None each. Not thread-safe."""

    def __init__(self, policy: RefinePolicy):
        self.policy = policy
        self._buf = np.empty((0, policy.view[1], policy.view[0], 3), np.uint8)
        self.looks = 0

    def wanted(self, quad: np.ndarray, first_scale: float, unreported: bool = False) -> bool:
        """Whether a plate this small in the first pass's view (first_scale: view px per frame px)
        is worth a closer look. In a frame the view did not shrink, only when its read would not
        be reported anyway (`unreported`): the window has no pixel the view lacked, only another
        box (a reported right read of an upscaled ⅓-size still was replaced by a more confident
        wrong one; a black 鲁L plate read at 0.03 was read right at 0.99)."""
        p = self.policy
        return p.enabled and (first_scale < 1.0 or unreported) and width(quad) * first_scale < p.max_view_width

    def __call__(self, detect_u8, decode, frames, plates: list[tuple[int, np.ndarray]]) -> list[np.ndarray | None]:
        """plates: (frame index, corners 4×2 frame px). detect_u8 / decode as in zoom.SecondLook."""
        p = self.policy
        if not plates:
            return []
        if len(self._buf) < len(plates):
            self._buf = np.empty((len(plates), p.view[1], p.view[0], 3), np.uint8)
        batch = self._buf[:len(plates)]
        jobs = []
        for k, (i, quad) in enumerate(plates):
            q = np.asarray(quad, np.float32)
            scale = min(p.max_scale, p.target_width / max(width(q), 1.0))
            cx, cy = q.mean(axis=0)
            origin = (float(cx - p.view[0] / 2 / scale), float(cy - p.view[1] / 2 / scale))
            zoom.cut(frames[i], origin, scale, p.view, batch[k])
            jobs.append((origin, scale))
        self.looks += len(plates)
        out: list[np.ndarray | None] = []
        for (i, quad), (origin, scale), (c, s) in zip(plates, jobs, decode(detect_u8(batch))):
            c = np.asarray(c, np.float32).reshape(-1, 4, 2)
            if not len(c):
                out.append(None)
                continue
            keep = zoom.inside(c, p.view, frames[i].shape, origin, scale)
            c = c / scale + np.array(origin, np.float32)
            ok = keep & (box_iou(c, quad) >= MIN_IOU)
            if not ok.any():
                out.append(None)
                continue
            best = int(np.argmax(np.where(ok, np.asarray(s, np.float32), -1.0)))
            out.append(c[best])
        return out
