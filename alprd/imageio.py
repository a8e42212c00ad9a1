"""Reading still images for `alprd recognize` and the evaluation tools, with user-facing errors.

Nothing is decoded before its header's declared size is checked (alprd.imageheader): a format
whose size we cannot read is refused rather than decoded on trust."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from alprd.imageheader import FORMATS, HeaderError, declared_size

MAX_PIXELS = 100_000_000  # a 10k×10k still is already far beyond any camera; refuse, don't swap


class ImageError(Exception):
    """The file is not an image we can read; the message is one line for the user."""


def read_image(path: str | Path) -> np.ndarray:
    """Any common still (8/16-bit, gray, alpha) → 8-bit BGR."""
    p = Path(path)
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{p}: is a directory") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror})") from None
    if data.size == 0:
        raise ImageError(f"{p}: empty file")
    try:
        declared = declared_size(data.tobytes())
    except HeaderError as exc:
        raise ImageError(f"{p}: not a readable image ({exc})") from None
    if declared is None:
        raise ImageError(f"{p}: not a readable image (unknown format; alprd reads {FORMATS})")
    if declared.pixels > MAX_PIXELS:
        raise ImageError(f"{p}: image too large ({declared.width}×{declared.height} pixels, "
                         f"limit {MAX_PIXELS:,})")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageError(f"{p}: cannot decode image ({str(exc).strip().splitlines()[-1][:120]})") from None
    if img is None:
        raise ImageError(f"{p}: not a readable image (unknown format or corrupt data)")
    return to_bgr8(img)


def to_bgr8(img: np.ndarray) -> np.ndarray:
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img
