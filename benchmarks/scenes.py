"""Synthetic frames and videos for the benchmarks: a dark textured street and plates crossing it.

Two plate styles:

- ``drawn``: a light rectangle with dark Hershey-font characters, drawn with OpenCV alone so the
  benchmarks run anywhere. Made for the built weights of benchmarks.rigged, which light up on a
  bright rectangle (not on a real plate); sized to cover about a quarter of the frame's width, i.e.
  about 130×40 pixels of the detector's 512×512 view. Trained weights do not read it.
- ``rendered``: a real-looking blue Chinese plate (GA 36 layout, the plate-font glyph bitmaps of
  ../shared/data/synth) drawn by ``pipelines.synth.plates.render_plate``, with a valid plate text
  (``RENDERED_TEXTS``) and composited over the street with its alpha (rounded corners). It is
  ``RENDERED_PLATE_W_1080P`` pixels wide in a 1920-pixel-wide frame, as a parking camera sees a
  plate, and scaled with the frame's width; the shipped trained weights read it.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

PLATE_FRAC = 0.25          # drawn plate: plate width / frame width
PLATE_ASPECT = 440 / 140   # a Chinese single-row plate

# Rendered plates: 0.45 px per mm of a 440 mm plate ≈ 198×63 pixels in a 1080p frame. Measured with
# the shipped weights on single 1080p frames of this street (12 texts × 5 positions, two render
# seeds): exact single-frame reads 47/60 at 176 px, 53–54/60 at 198 px, 46–54/60 at 220 px, 52–53/60
# at 242 px; every plate was detected at each size.
RENDERED_PX_PER_MM_1080P = 0.45
RENDERED_PLATE_W_1080P = round(440 * RENDERED_PX_PER_MM_1080P)
# Valid civil plates (alprd.model.plate_format.is_valid_plate): a province, a letter, five of A-Z0-9;
# several provinces, letters and digits in every position. Pass k shows RENDERED_TEXTS[k % n].
RENDERED_TEXTS = ("皖A12345", "京B6789C", "沪C5D321", "浙A3B7Q9", "鲁B2N851", "川A7K60T",
                  "豫D59X23", "苏E88K16", "湘A0Y437", "粤LQ092V", "皖K6L902", "京N2P5H8")
PLATE_STYLES = ("drawn", "rendered")



def add_h264_stream(out, w: int, h: int, fps: int):
    """An H.264 stream as a camera sends it: one key frame a second, no B-frames, fast preset."""
    stream = out.add_stream("libx264", rate=Fraction(fps))
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.codec_context.gop_size = fps
    stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
    return stream

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


def rendered_plates_available() -> bool:
    """Whether ``rendered`` plates can be made here (pipelines.synth and its glyph assets)."""
    try:
        from pipelines.synth.assets import assets_available
    except ImportError:
        return False
    return assets_available()


def render_plates(texts, frame_w: int, seed: int = 0) -> list:
    """One pipelines.synth.plates.Plate per text, blue, sized for a frame `frame_w` pixels wide."""
    from pipelines.synth.plates import render_plate

    rng = np.random.default_rng(seed)
    ppm = RENDERED_PX_PER_MM_1080P * frame_w / 1920
    return [render_plate(t, "blue", rng, px_per_mm=ppm) for t in texts]


def paste_plate(img: np.ndarray, plate, x0: int, y0: int) -> np.ndarray:
    """Composite a rendered plate upright with its top-left corner at (x0, y0), in place
    (pipelines.synth.scenes.paste_plate: by its alpha, cut off at the frame's edges)."""
    from pipelines.synth.scenes import paste_plate as paste

    paste(img, plate, plate.corners + np.array([x0, y0], np.float32))
    return img


def frame_with_plate(size: tuple[int, int], centre: tuple[float, float] | None = None,
                     seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(BGR frame, the plate's corners) with the plate at `centre` (default: the frame's centre)."""
    w, h = size
    img = background(size, seed)
    quad = plate_quad(size, centre or (w / 2, h * 0.6))
    return draw_plate(img, quad), quad


def crossing_video(path: str | Path, size: tuple[int, int] = (1920, 1080), seconds: float = 8.0,
                   fps: int = 25, cross_s: float = 3.0, gap_s: float = 1.0, tail_s: float = 1.5,
                   plates: str = "drawn", seed: int = 0) -> tuple[Path, list[tuple[float, float, str]]]:
    """H.264 MP4 of plates crossing the frame left to right, one after another: each takes
    `cross_s` from entering to leaving, then `gap_s` of empty street; no plate enters after
    `seconds - tail_s - cross_s`, so the stream goes on (empty) for at least `tail_s` after the
    last one left. `plates`: ``drawn`` or ``rendered`` (see the module's docstring; rendered needs
    the synth assets). Returns the path and, per passage, (enter, leave media time, text drawn)."""
    import av

    if plates not in PLATE_STYLES:
        raise ValueError(f"plates must be one of {', '.join(PLATE_STYLES)}, got {plates!r}")
    w, h = size
    bg = background(size, 1)
    spans = []
    t = 0.0
    while t + cross_s <= seconds - tail_s + 1e-9:
        spans.append((t, t + cross_s))
        t += cross_s + gap_s
    if plates == "rendered":
        texts = [RENDERED_TEXTS[k % len(RENDERED_TEXTS)] for k in range(len(spans))]
        images = render_plates(texts, w, seed)
        pw = images[0].image.shape[1] if images else 0
    else:
        texts = [f"A{k % 10}2345" for k in range(len(spans))]
        pw = PLATE_FRAC * w
    passes = [(enter, leave, text) for (enter, leave), text in zip(spans, texts)]
    n = int(round(seconds * fps))
    path = Path(path)
    with av.open(str(path), "w", format="mp4") as out:
        stream = add_h264_stream(out, w, h, fps)
        for i in range(n):
            t = i / fps
            img = bg.copy()
            for k, (enter, leave, text) in enumerate(passes):
                if enter <= t < leave:
                    x = -pw / 2 + (w + pw) * (t - enter) / cross_s
                    if plates == "rendered":
                        ih, iw = images[k].image.shape[:2]
                        paste_plate(img, images[k], int(round(x - iw / 2)), int(round(h * 0.6 - ih / 2)))
                    else:
                        draw_plate(img, plate_quad(size, (x, h * 0.6)), text)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path, passes
