"""Small helpers of the cascade over frames and plates (no nets, no device)."""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """Accept grayscale and BGRA too: cameras and files deliver all three."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be 8-bit, got {frame.dtype}")
    return frame


def groups(items: Sequence, key) -> list[list[int]]:
    """Indices of the items (frames, plates) grouped by key(item), in order of first appearance."""
    out: dict = {}
    for i, f in enumerate(items):
        out.setdefault(key(f), []).append(i)
    return list(out.values())


def crop_jpeg(frame: np.ndarray, corners: np.ndarray, margin: float = 0.25) -> bytes | None:
    """The plate's bounding box with some context, as a human would want to see it."""
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    h, w = frame.shape[:2]
    xa, ya = int(max(0, x0 - mx)), int(max(0, y0 - my))
    xb, yb = int(min(w, x1 + mx)), int(min(h, y1 + my))
    if xb <= xa or yb <= ya:
        return None
    ok, buf = cv2.imencode(".jpg", frame[ya:yb, xa:xb], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes() if ok else None
