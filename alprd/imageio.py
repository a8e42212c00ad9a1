"""Reading still images for `alprd recognize` and the evaluation tools, with user-facing errors."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

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
    header_ok, w, h = _peek_size(data)
    if header_ok and w * h > MAX_PIXELS:
        raise ImageError(f"{p}: image too large ({w}×{h} pixels, limit {MAX_PIXELS:,})")
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


def _peek_size(data: np.ndarray) -> tuple[bool, int, int]:
    """Width/height from PNG and JPEG headers without decoding (guards against decompression bombs)."""
    b = data[:65536].tobytes()
    if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 24:
        return True, int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")
    if b[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(b):
            if b[i] != 0xFF:
                break
            marker, seg = b[i + 1], int.from_bytes(b[i + 2:i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                return True, int.from_bytes(b[i + 7:i + 9], "big"), int.from_bytes(b[i + 5:i + 7], "big")
            i += 2 + seg
    return False, 0, 0
