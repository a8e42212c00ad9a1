"""Synthetic frames and videos for the benchmarks: a dark textured street and light plates.

Made for the built weights of benchmarks.rigged (light plates on a dark background), rendered with
OpenCV alone so the benchmarks run anywhere; the plate is sized to cover about a quarter of the
frame's width, i.e. about 130×40 pixels of the detector's 512×512 view.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

PLATE_FRAC = 0.25          # plate width / frame width
PLATE_ASPECT = 440 / 140   # a Chinese single-row plate


def background(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """w×h dark grey with blotches and fine noise (so resizing it is real work, not a flat fill)."""
    w, h = size
    rng = np.random.default_rng(seed)
    small = rng.integers(35, 85, (max(2, h // 64), max(2, w // 64), 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = cv2.add(img, rng.integers(0, 12, (h, w, 3), dtype=np.uint8))
    return img


def plate_quad(size: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    w, _ = size
    pw = PLATE_FRAC * w
    ph = pw / PLATE_ASPECT
    cx, cy = centre
    return np.array([[cx - pw / 2, cy - ph / 2], [cx + pw / 2, cy - ph / 2],
                     [cx + pw / 2, cy + ph / 2], [cx - pw / 2, cy + ph / 2]], np.float32)


def draw_plate(img: np.ndarray, quad: np.ndarray, text: str = "A12345") -> np.ndarray:
    """A light plate with dark characters filling the axis-aligned `quad` (drawn in place)."""
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    cv2.rectangle(img, (int(x0), int(y0)), (int(x1), int(y1)), (235, 235, 230), -1)
    ph = y1 - y0
    scale = ph / 34.0
    cv2.putText(img, text, (int(x0 + 0.06 * (x1 - x0)), int(y1 - 0.2 * ph)), cv2.FONT_HERSHEY_SIMPLEX,
                scale, (40, 30, 20), max(1, int(scale * 2.5)), cv2.LINE_AA)
    return img


def frame_with_plate(size: tuple[int, int], centre: tuple[float, float] | None = None,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(BGR frame, the plate's corners) with the plate at `centre` (default: the frame's centre)."""
    w, h = size
    img = background(size, seed)
    quad = plate_quad(size, centre or (w / 2, h * 0.6))
    return draw_plate(img, quad), quad


def crossing_video(path: str | Path, size: tuple[int, int] = (1920, 1080), seconds: float = 8.0,
                   fps: int = 25, cross_s: float = 3.0, gap_s: float = 1.0,
                   tail_s: float = 1.5) -> tuple[Path, list[tuple[float, float]]]:
    """H.264 MP4 of plates crossing the frame left to right, one after another: each takes
    `cross_s` from entering to leaving, then `gap_s` of empty street; no plate enters after
    `seconds - tail_s - cross_s`, so the stream goes on (empty) for at least `tail_s` after the
    last one left. Returns the path and the (enter, leave) media times of each passage."""
    import av

    w, h = size
    bg = background(size, 1)
    pw = PLATE_FRAC * w
    passes = []
    t = 0.0
    while t + cross_s <= seconds - tail_s + 1e-9:
        passes.append((t, t + cross_s))
        t += cross_s + gap_s
    n = int(round(seconds * fps))
    path = Path(path)
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.gop_size = fps
        stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
        for i in range(n):
            t = i / fps
            img = bg.copy()
            for k, (enter, leave) in enumerate(passes):
                if enter <= t < leave:
                    x = -pw / 2 + (w + pw) * (t - enter) / cross_s
                    draw_plate(img, plate_quad(size, (x, h * 0.6)), f"A{k % 10}2345")
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path, passes
