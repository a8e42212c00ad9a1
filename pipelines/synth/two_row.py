"""Synthetic two-row plates: yellow rear plates of trucks and buses, trailers (挂), motorcycles.

GA 36 layouts, in millimetres (drawn with the leijd glyph bitmaps: 220_<province> and 220_up_<letter>
for the short, wide top-row characters, 220_down_<letter>, 220_<digit> and 220_挂 for the tall
bottom-row ones):

* large vehicle / trailer, 440×220: province and letter 80×60 at x = 110 and 250, y = 15 (the
  separator dot between them); five 65×110 characters from x = 27.5, 15 mm apart, y = 95.
* motorcycle, 220×140: province and letter 38×28 at x = 60 and 122, y = 10; five 30×70
  characters from x = 17, 9.5 mm apart, y = 56.

Text: the province (CCPD frequency mixed with a uniform share) and a letter on top; five letters
or digits below, a trailer's last one being 挂. `two_row_crop` gives what RSNet is trained on:
the plate posed in a background patch, degraded like a camera frame, rectified from slightly wrong
outer corners and composed into one row by alprd.model.two_row (the cascade's own path).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from alprd.model import geometry, two_row
from alprd.model.charset import DIGITS, LETTERS, TRAILER_CHAR
from pipelines.data.priors import Priors, load_priors
from pipelines.synth import assets
from pipelines.synth.augment import font_weight, jitter_corners, photometric, random_quad
from pipelines.synth.plates import Plate

_LEIJD = "leijd_chinese_license_plate_generator"
_ZHENG = "zheng-yuwei_license-plate-generator"
KIND_PROBS = {"truck": 0.5, "trailer": 0.25, "moto": 0.25}
SIZES_MM = {"truck": (440, 220), "trailer": (440, 220), "moto": (220, 140)}
# (x0, y0, w, h) in mm: top row (2 boxes), bottom row (5 boxes)
_LARGE = ([(110, 15, 80, 60), (250, 15, 80, 60)], [(27.5 + i * 80, 95, 65, 110) for i in range(5)])
_MOTO = ([(60, 10, 38, 28), (122, 10, 38, 28)], [(17 + i * 39.5, 56, 30, 70) for i in range(5)])
LAYOUTS = {"truck": _LARGE, "trailer": _LARGE, "moto": _MOTO}
_ALNUM = LETTERS + DIGITS


@lru_cache(maxsize=None)
def glyphs() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(top-row glyphs: provinces and letters, bottom-row glyphs: letters, digits, 挂) as ink masks."""
    font = assets.synth_root() / _LEIJD / "font_model"

    def load(name):
        p = font / f"{name}.jpg"
        return assets._ink_mask(assets._read(p)) if p.is_file() else None

    from alprd.model.charset import REGION_CHARS

    top = {c: load(f"220_{c}") for c in REGION_CHARS}
    top.update({c: load(f"220_up_{c}") for c in LETTERS})
    bottom = {c: load(f"220_down_{c}") for c in LETTERS}
    bottom.update({c: load(f"220_{c}") for c in DIGITS + (TRAILER_CHAR,)})
    missing = [c for c, g in list(top.items()) + list(bottom.items()) if g is None]
    if missing:
        raise FileNotFoundError(f"two-row glyph bitmaps missing for {''.join(missing)} in {font}")
    return top, bottom


@lru_cache(maxsize=None)
def backgrounds() -> list[tuple[np.ndarray, np.ndarray]]:
    """Yellow two-row plate backgrounds (image, alpha) at 2 px/mm of a 440×220 plate."""
    root = assets.synth_root()
    out = []
    for rel in (f"{_ZHENG}/images/double_yellow1.png", f"{_ZHENG}/images/double_yellow2.png",
                f"{_LEIJD}/plate_model/yellow_220.PNG"):
        p = root / rel
        if not p.is_file():
            continue
        img = assets._read(p)
        alpha = img[:, :, 3].astype(np.float32) / 255 if img.ndim == 3 and img.shape[2] == 4 else None
        img = np.ascontiguousarray(img[:, :, :3]) if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        img = cv2.resize(img, (880, 440), interpolation=cv2.INTER_AREA)
        alpha = np.ones((440, 880), np.float32) if alpha is None else cv2.resize(alpha, (880, 440))
        out.append((img, alpha))
    return out


def sample_text(rng: np.random.Generator, kind: str, priors: Priors | None = None) -> str:
    priors = priors or load_priors()
    head = priors.province(rng, 0.5) + priors.second_letter(rng)
    n = 4 if kind == "trailer" else 5
    tail = "".join(_ALNUM[rng.integers(len(_ALNUM))] if rng.random() < 0.3 else DIGITS[rng.integers(10)]
                   for _ in range(n))
    return head + tail + (TRAILER_CHAR if kind == "trailer" else "")


def _background(w: int, h: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    bgs = backgrounds()
    if bgs and rng.random() < 0.85:
        img, alpha = bgs[int(rng.integers(len(bgs)))]
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
    else:
        colour = np.array([rng.uniform(0, 40), rng.uniform(170, 220), rng.uniform(220, 255)], np.float32)
        img = np.ones((h, w, 3), np.float32) * colour
        t = max(1, round(h / 60))
        cv2.rectangle(img, (t, t), (w - 1 - t, h - 1 - t), (20, 20, 20), t)
        alpha = np.ones((h, w), np.float32)
    gain = rng.uniform(0.85, 1.1, 3).astype(np.float32)
    return np.clip(img * gain + rng.uniform(-12, 12), 0, 255), alpha


def render_two_row(text: str, kind: str, rng: np.random.Generator, px_per_mm: float = 0.5) -> Plate:
    """Draw a two-row plate; `kind` is truck, trailer or moto (the text's 2 + 5 characters)."""
    if kind not in LAYOUTS:
        raise ValueError(f"unknown two-row kind {kind!r} (expected one of {', '.join(LAYOUTS)})")
    if len(text) != 7:
        raise ValueError(f"a two-row plate has 7 characters, got {text!r}")
    wmm, hmm = SIZES_MM[kind]
    w, h = round(wmm * px_per_mm), round(hmm * px_per_mm)
    bg, alpha = _background(w, h, rng)
    top_g, bottom_g = glyphs()
    ink = np.zeros((h, w), np.float32)
    boxes = LAYOUTS[kind][0] + LAYOUTS[kind][1]
    dx, dy = rng.normal(0, 0.8, 2)
    for i, (ch, (x0, y0, bw, bh)) in enumerate(zip(text, boxes)):
        g = (top_g if i < 2 else bottom_g)[ch]
        px0, py0 = round((x0 + dx + rng.normal(0, 0.3)) * px_per_mm), round((y0 + dy + rng.normal(0, 0.3)) * px_per_mm)
        pw, ph = max(2, round(bw * px_per_mm)), max(2, round(bh * px_per_mm))
        g = cv2.resize(g, (pw, ph), interpolation=cv2.INTER_AREA)
        gx0, gy0 = max(0, -px0), max(0, -py0)
        ex, ey = min(w, px0 + pw), min(h, py0 + ph)
        sub = ink[py0 + gy0:ey, px0 + gx0:ex]
        np.maximum(sub, g[gy0:gy0 + sub.shape[0], gx0:gx0 + sub.shape[1]], out=sub)
    ink = font_weight(ink, rng)
    colour = np.asarray([rng.uniform(5, 45)] * 3, np.float32) + rng.uniform(0, 10, 3).astype(np.float32)
    img = bg * (1 - ink[..., None]) + colour * ink[..., None]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return Plate(np.clip(img, 0, 255).astype(np.uint8), alpha, text, kind, corners)


def sample_kind(rng: np.random.Generator) -> str:
    kinds = list(KIND_PROBS)
    p = np.asarray([KIND_PROBS[k] for k in kinds])
    return kinds[int(rng.choice(len(kinds), p=p / p.sum()))]


def random_two_row(rng: np.random.Generator, px_per_mm: float = 0.5, kind: str | None = None,
                   priors: Priors | None = None) -> Plate:
    kind = kind or sample_kind(rng)
    return render_two_row(sample_text(rng, kind, priors), kind, rng, px_per_mm)


def two_row_crop(rng: np.random.Generator, augment: bool = True, corner_jitter: float = 0.03,
                 hard=None) -> tuple[np.ndarray, str]:
    """One RSNet training input of a two-row plate: composed 144×48 image and its text.
    `hard` (a function img, rng → img) adds the camera degradations of the single-row crops."""
    from pipelines.synth.scenes import paste_plate, quantize_ppm, random_background

    width_px = float(np.exp(rng.uniform(np.log(50), np.log(300))))
    kind = sample_kind(rng)
    plate = random_two_row(rng, quantize_ppm(1.3 * width_px / SIZES_MM[kind][0]), kind)
    ph, pw = plate.image.shape[:2]
    s = width_px / pw
    cw, ch = int(width_px * rng.uniform(1.3, 1.8)), int(ph * s * rng.uniform(1.4, 2.2))
    canvas = random_background(cw, ch, rng, probs=(0.3, 0.3, 0.4))
    quad = random_quad(pw * s, ph * s, rng, max_rot_deg=8 if augment else 0,
                       max_persp=0.08 if augment else 0, scale=(0.95, 1.0))
    quad = quad + np.array([cw / 2, ch / 2], np.float32)
    paste_plate(canvas, plate, quad, gain=rng.uniform(0.75, 1.1) if augment else 1.0)
    if augment:
        canvas = photometric(canvas, rng, assets.stain_textures(), p_motion=0.2, p_blur=0.4)
        if hard is not None:
            canvas = hard(canvas, rng)
        quad = jitter_corners(quad, rng, corner_jitter)
        if rng.random() < 0.5:      # the cascade's grown quads (two_row.GROW_UP) miss the top edge a little
            quad = two_row.grow_up(quad, rng.uniform(-0.08, 0.12))
    return two_row.warp(canvas, quad, geometry.PLATE_SIZE), plate.text
