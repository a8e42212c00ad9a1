"""Real H.264 test videos, rendered with OpenCV and encoded with PyAV (no fixtures on disk).

Every default frame carries its own index as a row of black/white blocks in the top-left corner,
big enough to survive lossy encoding, so a test can tell exactly which source frames came out the
other end of a decoder, a ring or an RTSP server (`frame_index`).
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np

INDEX_BITS = 12
BLOCK = 8  # pixels per index bit; frames must be at least INDEX_BITS * BLOCK wide


def _draw_index(img: np.ndarray, index: int) -> None:
    for bit in range(INDEX_BITS):
        on = (index >> bit) & 1
        img[:BLOCK, bit * BLOCK:(bit + 1) * BLOCK] = 255 if on else 0


def frame_index(img: np.ndarray) -> int:
    """Read back the index drawn by the default renderer (BGR or grey frame)."""
    grey = img if img.ndim == 2 else img.mean(axis=2)
    value = 0
    for bit in range(INDEX_BITS):
        centre = grey[2:BLOCK - 2, bit * BLOCK + 2:(bit + 1) * BLOCK - 2]
        if centre.mean() > 127:
            value |= 1 << bit
    return value


def default_frame(i: int, size: tuple[int, int], text: str | None = None) -> np.ndarray:
    """A gradient, a moving square, a caption and the index blocks."""
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = np.linspace(40, 200, w, dtype=np.uint8)[None, :, None]
    x = (i * 4) % max(1, w - 20)
    cv2.rectangle(img, (x, h // 2), (x + 20, h // 2 + 20), (0, 0, 255), -1)
    cv2.putText(img, text if text is not None else str(i), (4, h - 8),
                cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    _draw_index(img, i)
    return img


def make_video(path: str | Path, frames: int = 50, size: tuple[int, int] = (160, 120),
               fps: int | Fraction = 25,
               text_fn: Callable[[int], str] | None = None,
               draw: Callable[[int], np.ndarray] | None = None,
               gop: int | None = None, faststart: bool = False) -> Path:
    """Encode `frames` frames of `size` (w, h) as H.264 in an MP4 and return the path.

    `draw(i)` returns a whole BGR frame of `size` (e.g. a rendered moving plate); otherwise the
    default frame is used, captioned with `text_fn(i)` when given. No B-frames and a keyframe every
    `gop` frames (default: one a second) so RTSP clients that join late start decoding quickly.
    `faststart` puts the index at the front, so a truncated file still yields its first frames.
    `fps` may be a Fraction below 1 (e.g. Fraction(1, 1000): one frame every 1000 s); pass `gop`.
    """
    path = Path(path)
    w, h = size
    if w % 2 or h % 2:
        raise ValueError("H.264 yuv420p needs even width and height")
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as out:
        stream = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = gop or int(round(fps))
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
        for i in range(frames):
            img = draw(i) if draw is not None else default_frame(i, size, text_fn(i) if text_fn else None)
            if img.shape[:2] != (h, w):
                raise ValueError(f"draw({i}) returned {img.shape[1]}x{img.shape[0]}, expected {w}x{h}")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img, dtype=np.uint8), format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
