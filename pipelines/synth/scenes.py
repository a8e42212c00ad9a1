"""Synthetic detection scenes with exactly known plate corners and texts.

Three recipes, each returning a `Scene` (BGR image + plates as (corners 4×2 TL,TR,BR,BL in image
pixels, text)):

* `ccpd_swap_scene`: a real **dev** CCPD still whose annotated plate is painted over by a new plate
  with a known text (warped onto the slightly enlarged annotated quad, lit and blurred to match
  the plate it covers): a new label in a real context.
* `background_scene`: 1-4 plates at CCPD-like shapes on plate-free backgrounds (CCPD "np"
  samples, procedural clutter with NoPlates car-front crops as hard negatives).
* `parking_scene`: 16:9 camera frames (1280×720 or 1920×1080) with several cars (car-front tiles
  cut from plate-swapped dev CCPD stills) whose plates are 60-150 px wide, per-car motion blur,
  often night.

The detector's input policy (letterbox to 512) is alprd.model.geometry.letterbox, shared with
serving; this module does not resize for the detector.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import cv2
import numpy as np

from pipelines.data.ccpd import CcpdSample
from pipelines.data.priors import Priors, load_priors
from pipelines.synth import assets
from pipelines.synth.augment import noise_field, homography, motion_blur, photometric, random_quad
from pipelines.synth.plates import Plate, render_plate, sample_kind, sample_text


class PlateInstance(NamedTuple):
    corners: np.ndarray      # 4×2 float32, TL, TR, BR, BL, image pixels
    text: str


@dataclass(eq=False)
class Scene:
    image: np.ndarray                               # H×W×3 uint8 BGR
    plates: list[PlateInstance] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # plate kind of each entry of `plates`
    recipe: str = ""


def read_image(path, reduce: int = 1) -> np.ndarray:
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4}[reduce]
    img = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), flags)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return img


# ---------------------------------------------------------------- pasting


def _luma(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img


def plate_for_quad(quad: np.ndarray, rng: np.random.Generator, kind: str | None = None,
                   text: str | None = None, priors: Priors | None = None) -> Plate:
    """Render a plate at a resolution suited to the quad it will be warped onto (slight
    oversampling, never strong minification, which would alias)."""
    kind = kind or sample_kind(rng)
    text = text or sample_text(rng, kind, priors)
    width_px = max(np.linalg.norm(quad[1] - quad[0]), np.linalg.norm(quad[2] - quad[3]))
    mm = 480 if len(text) == 8 else 440
    return render_plate(text, kind, rng, quantize_ppm(1.3 * width_px / mm))


def quantize_ppm(ppm: float) -> float:
    """Snap a drawing resolution to a 1/8-octave grid within [0.12, 1.5] px/mm, so the resized
    plate templates are reused from cache instead of resized for every plate."""
    ppm = float(np.clip(ppm, 0.12, 1.5))
    return float(2.0 ** (round(np.log2(ppm) * 8) / 8))


def _roi(quad: np.ndarray, shape) -> tuple[int, int, int, int] | None:
    h, w = shape[:2]
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - 2
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 3
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def paste_plate(canvas: np.ndarray, plate: Plate, quad: np.ndarray, gain: float = 1.0,
                blur_sigma: float | None = None, match: np.ndarray | None = None) -> None:
    """Warp `plate` onto `quad` of `canvas` in place. `match` (the canvas's original pixels of
    that region) picks the blur that makes the new plate as sharp as the old one."""
    roi = _roi(quad, canvas.shape)
    if roi is None:
        return
    x0, y0, x1, y1 = roi
    hmat = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ homography(plate.corners, quad)
    size = (x1 - x0, y1 - y0)
    warped = cv2.warpPerspective(plate.image, hmat, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpPerspective(plate.alpha, hmat, size, flags=cv2.INTER_LINEAR, borderValue=0)
    if match is not None:
        inner = cv2.erode((alpha > 0.99).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        if inner.sum() > 20:
            target = np.log1p(cv2.Laplacian(_luma(match), cv2.CV_32F)[inner].var())
            best, best_err = 0.0, np.inf
            for s in (0.0, 0.5, 0.8, 1.2, 1.7, 2.4, 3.2):
                cand = cv2.GaussianBlur(warped, (0, 0), s) if s else warped
                err = abs(np.log1p(cv2.Laplacian(_luma(cand), cv2.CV_32F)[inner].var()) - target)
                if err < best_err:
                    best, best_err = s, err
            blur_sigma = best
    if blur_sigma:
        warped = cv2.GaussianBlur(warped, (0, 0), blur_sigma)
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    out = region * (1 - alpha[..., None]) + warped.astype(np.float32) * gain * alpha[..., None]
    canvas[y0:y1, x0:x1] = np.clip(out, 0, 255).astype(np.uint8)


def expand_quad(quad: np.ndarray, factor: float) -> np.ndarray:
    c = quad.mean(axis=0, keepdims=True)
    return ((quad - c) * factor + c).astype(np.float32)


def _inside(quad: np.ndarray, w: int, h: int, margin: float = 1.0) -> bool:
    return bool((quad[:, 0] >= margin).all() and (quad[:, 0] <= w - margin).all()
                and (quad[:, 1] >= margin).all() and (quad[:, 1] <= h - margin).all())


def _boxes_overlap(a: np.ndarray, b: np.ndarray, margin: float = 4.0) -> bool:
    return not (a[:, 0].max() + margin < b[:, 0].min() or b[:, 0].max() + margin < a[:, 0].min()
                or a[:, 1].max() + margin < b[:, 1].min() or b[:, 1].max() + margin < a[:, 1].min())


# ---------------------------------------------------------------- (a) CCPD plate swap


def _swap_kind(was_green: bool, rng: np.random.Generator) -> str:
    if was_green and rng.random() < 0.7:
        return "green"
    return sample_kind(rng)


def swap_plate(img: np.ndarray, corners: np.ndarray, was_green: bool, rng: np.random.Generator,
               priors: Priors | None = None) -> tuple[PlateInstance, str]:
    """Paint a new plate over an annotated one (in place); returns its label and kind."""
    quad = expand_quad(np.asarray(corners, np.float32), rng.uniform(1.03, 1.09))
    kind = _swap_kind(was_green, rng)
    plate = plate_for_quad(quad, rng, kind, priors=priors)
    roi = _roi(quad, img.shape)
    gain = 1.0
    match = None
    if roi is not None:
        x0, y0, x1, y1 = roi
        match = img[y0:y1, x0:x1].copy()
        # the brightest paint (white text or a light background) under this light
        old_white = np.percentile(_luma(match), 95)
        new_white = np.percentile(_luma(plate.image), 95)
        gain = float(np.clip(old_white / max(new_white, 1.0), 0.3, 1.4) * rng.uniform(0.9, 1.1))
    paste_plate(img, plate, quad, gain=gain, match=match)
    return PlateInstance(quad, plate.text), kind


def ccpd_swap_scene(sample: CcpdSample, rng: np.random.Generator, priors: Priors | None = None,
                    augment: bool = True) -> Scene:
    """Recipe (a): a dev CCPD still with its plate replaced by one of known text."""
    img = read_image(sample.path)
    inst, kind = swap_plate(img, sample.label.corners, sample.label.is_green, rng, priors)
    if augment:
        img = photometric(img, rng, p_stain=0.0, p_blur=0.2, p_motion=0.15, p_exposure=0.5,
                          p_noise=0.4, p_jpeg=0.5)
    return Scene(img, [inst], [kind], "ccpd_swap")


# ---------------------------------------------------------------- (b) plates on backgrounds


def procedural_background(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth colour field + shapes + real non-plate car-front crops (hard negatives)."""
    small = rng.integers(30, 220, (rng.integers(2, 6), rng.integers(2, 6), 3)).astype(np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    for _ in range(int(rng.integers(3, 12))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            cv2.rectangle(img, p0, p1, colour, -1 if rng.random() < 0.6 else int(rng.integers(1, 6)))
        else:
            cv2.line(img, p0, p1, colour, int(rng.integers(1, 8)))
    crops = [b for b in assets.background_images() if b.shape[0] < 100]
    for _ in range(int(rng.integers(0, 6)) if crops else 0):
        c = crops[rng.integers(len(crops))]
        s = rng.uniform(0.5, 3.0)
        c = cv2.resize(c, (max(2, int(c.shape[1] * s)), max(2, int(c.shape[0] * s))))
        ch, cw = min(c.shape[0], h), min(c.shape[1], w)
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        img[y:y + ch, x:x + cw] = c[:ch, :cw]
    return img


def road_background(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """Asphalt seen from a pole camera: grey with low-frequency shading, fine grain, and
    parking-bay / lane lines converging towards a vanishing point above the frame."""
    full = (w, h)
    w, h = max(2, w // 2), max(2, h // 2)        # drawn at half resolution, upscaled at the end
    base = rng.uniform(50, 150)
    small = (base + rng.normal(0, 18, (4, 6))).astype(np.float32)
    grey = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    grain = cv2.GaussianBlur(noise_field(h, w, rng).astype(np.float32), (0, 0), rng.uniform(0.4, 1.2))
    grey = np.clip(grey + grain * rng.uniform(0.3, 1.0), 0, 255).astype(np.uint8)
    tint = rng.uniform(0.92, 1.08, 3)
    img = cv2.merge([cv2.convertScaleAbs(grey, alpha=float(t)) for t in tint])
    vx, vy = rng.uniform(-0.5, 1.5) * w, -rng.uniform(0.3, 2.0) * h
    colour = (235, 235, 235) if rng.random() < 0.7 else (40, 200, 230)
    thick = int(rng.integers(2, 6))
    for x in np.linspace(-0.5 * w, 1.5 * w, int(rng.integers(3, 9))):
        cv2.line(img, (int(vx), int(vy)), (int(x), h), colour, thick, cv2.LINE_AA)
    if rng.random() < 0.6:
        y = int(rng.uniform(0.3, 0.9) * h)
        cv2.line(img, (0, y), (w, y + int(rng.normal(0, 0.05) * h)), colour, thick, cv2.LINE_AA)
    return cv2.resize(img, full, interpolation=cv2.INTER_LINEAR)


def random_background(w: int, h: int, rng: np.random.Generator,
                      probs: tuple[float, float, float] = (0.5, 0.0, 0.5)) -> np.ndarray:
    """A plate-free background: a real picture (CCPD "np" samples, cropped, scaled, flipped),
    asphalt, or procedural clutter, with probabilities `probs`."""
    scenes = [b for b in assets.background_images() if b.shape[0] >= 100]
    p = np.asarray(probs, np.float64) * ([1.0, 1.0, 1.0] if scenes else [0.0, 1.0, 1.0])
    choice = rng.choice(3, p=p / p.sum())
    if choice == 0:
        b = scenes[rng.integers(len(scenes))]
        bh, bw = b.shape[:2]
        s = max(w / bw, h / bh) * rng.uniform(1.0, 1.6)      # output px per source px
        sw, sh = min(bw, max(2, round(w / s))), min(bh, max(2, round(h / s)))
        y, x = int(rng.integers(0, bh - sh + 1)), int(rng.integers(0, bw - sw + 1))
        b = b[y:y + sh, x:x + sw]
        if rng.random() < 0.5:
            b = b[:, ::-1]
        return cv2.resize(b, (w, h), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    if choice == 1:
        return road_background(w, h, rng)
    return procedural_background(w, h, rng)


def random_plate_quad(width_px: float, n_chars: int, rng: np.random.Generator,
                      priors: Priors | None = None) -> np.ndarray:
    """A plate outline about the origin: a real CCPD plate shape (half the time) or a random
    rotation + perspective of the GA 36 rectangle."""
    aspect = (480 if n_chars == 8 else 440) / 140
    if rng.random() < 0.5:
        q = (priors or load_priors()).quad(rng) * width_px
        if n_chars == 8:      # CCPD shapes are 440-wide plates: stretch along the plate's width
            u = (q[1] - q[0]) + (q[2] - q[3])
            u /= np.linalg.norm(u) + 1e-6
            q = q + np.outer(q @ u, u) * (480 / 440 - 1)
        return q.astype(np.float32)
    return random_quad(width_px, width_px / aspect, rng, max_rot_deg=12, max_persp=0.15)


def place_plates(canvas: np.ndarray, n: int, width_range: tuple[float, float], rng: np.random.Generator,
                 priors: Priors | None = None, avoid: list[np.ndarray] | None = None,
                 kind_probs: dict[str, float] | None = None) -> tuple[list[PlateInstance], list[str]]:
    """Paste up to n random plates at non-overlapping places fully inside the canvas."""
    h, w = canvas.shape[:2]
    placed = list(avoid or [])
    out, kinds = [], []
    for _ in range(n):
        for _attempt in range(20):
            kind = sample_kind(rng, kind_probs)
            text = sample_text(rng, kind, priors)
            q = random_plate_quad(rng.uniform(*width_range), len(text), rng, priors)
            q = q + np.array([rng.uniform(0, w), rng.uniform(0, h)], np.float32)
            if _inside(q, w, h, 2.0) and not any(_boxes_overlap(q, p) for p in placed):
                break
        else:
            continue
        plate = plate_for_quad(q, rng, kind, text)
        paste_plate(canvas, plate, q, gain=rng.uniform(0.7, 1.1), blur_sigma=rng.uniform(0, 1.0))
        placed.append(q)
        out.append(PlateInstance(q, text))
        kinds.append(kind)
    return out, kinds


def background_scene(rng: np.random.Generator, size: tuple[int, int] | None = None,
                     priors: Priors | None = None, augment: bool = True) -> Scene:
    """Recipe (b): 1-4 plates on a plate-free background."""
    if size is None:
        size = [(720, 1160), (1280, 720), (960, 960), (1024, 768)][rng.integers(4)]
    w, h = size
    img = random_background(w, h, rng)
    plates, kinds = place_plates(img, int(rng.integers(1, 5)), (0.06 * w, 0.4 * w), rng, priors)
    if augment:
        img = photometric(img, rng, assets.stain_textures())
    return Scene(img, plates, kinds, "background")


# ---------------------------------------------------------------- (c) parking-camera frames


def _car_tile(sample: CcpdSample, target_w: float, rng: np.random.Generator, priors: Priors | None):
    """A car-front tile around a dev CCPD plate (swapped for a new one), scaled so the plate is
    target_w px wide. Returns (tile BGR, feathered alpha, plate instance in tile pixels, kind)."""
    lab = sample.label
    pw = float(np.linalg.norm(lab.corners[1] - lab.corners[0]))
    scale = target_w / max(pw, 1.0)
    reduce = 4 if scale < 0.25 else 2 if scale < 0.5 else 1
    img = read_image(sample.path, reduce)
    corners = lab.corners / reduce
    inst, kind = swap_plate(img, corners, lab.is_green, rng, priors)
    pw_r = pw / reduce
    cx, cy = inst.corners.mean(axis=0)
    x0 = int(max(0, cx - pw_r * rng.uniform(1.6, 2.6)))
    x1 = int(min(img.shape[1], cx + pw_r * rng.uniform(1.6, 2.6)))
    y0 = int(max(0, cy - pw_r * rng.uniform(1.5, 2.8)))
    y1 = int(min(img.shape[0], cy + pw_r * rng.uniform(0.6, 1.2)))
    s = target_w / pw_r
    tile = cv2.resize(img[y0:y1, x0:x1], (max(2, round((x1 - x0) * s)), max(2, round((y1 - y0) * s))),
                      interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    quad = ((inst.corners - [x0, y0]) * s).astype(np.float32)
    th, tw = tile.shape[:2]
    f = max(2, min(th, tw) // 8)
    ry = np.clip(np.minimum(np.arange(th), np.arange(th)[::-1]) / f, 0, 1).astype(np.float32)
    rx = np.clip(np.minimum(np.arange(tw), np.arange(tw)[::-1]) / f, 0, 1).astype(np.float32)
    alpha = np.minimum.outer(ry, rx)              # linear ramp over f px at the tile's border
    plate_mask = np.zeros((th, tw), np.float32)
    cv2.fillConvexPoly(plate_mask, np.round(expand_quad(quad, 1.15)).astype(np.int32), 1.0)
    alpha = np.maximum(alpha, plate_mask)        # never feather the plate itself
    if rng.random() < 0.35:                      # the car is moving
        tile = motion_blur(tile, rng, (3, 11))
    return tile, alpha, PlateInstance(quad, inst.text), kind


def parking_scene(rng: np.random.Generator, ccpd: list[CcpdSample], size: tuple[int, int] | None = None,
                  priors: Priors | None = None, augment: bool = True,
                  plate_width: tuple[float, float] = (60, 150)) -> Scene:
    """Recipe (c): a 16:9 camera frame with several cars whose plates are 60-150 px wide."""
    if size is None:
        size = (1280, 720) if rng.random() < 0.6 else (1920, 1080)
    w, h = size
    img = random_background(w, h, rng, probs=(0.35, 0.45, 0.2))
    plates: list[PlateInstance] = []
    kinds: list[str] = []
    tiles_placed: list[np.ndarray] = []
    for _ in range(int(rng.integers(1, 5)) if ccpd else 0):
        sample = ccpd[rng.integers(len(ccpd))]
        tile, alpha, inst, kind = _car_tile(sample, rng.uniform(*plate_width), rng, priors)
        th, tw = tile.shape[:2]
        for _attempt in range(15):
            x, y = int(rng.integers(-tw // 4, w - tw * 3 // 4)), int(rng.integers(-th // 4, h - th * 3 // 4))
            q = inst.corners + np.array([x, y], np.float32)
            rect = np.array([[x, y], [x + tw, y + th]], np.float32)
            if _inside(q, w, h, 2.0) and not any(_boxes_overlap(rect, p.corners, 2.0) for p in plates):
                break
        else:
            continue
        # paste the clipped tile
        sx0, sy0 = max(0, -x), max(0, -y)
        dx0, dy0 = max(0, x), max(0, y)
        dx1, dy1 = min(w, x + tw), min(h, y + th)
        src = tile[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0].astype(np.float32)
        a = alpha[sy0:sy0 + dy1 - dy0, sx0:sx0 + dx1 - dx0, None]
        region = img[dy0:dy1, dx0:dx1].astype(np.float32)
        img[dy0:dy1, dx0:dx1] = np.clip(region * (1 - a) + src * a, 0, 255).astype(np.uint8)
        plates.append(PlateInstance(q, inst.text))
        kinds.append(kind)
        tiles_placed.append(rect)
    # a few loose plates too (e.g. cars we have no tile for), never over the cars
    if not plates or rng.random() < 0.3:
        extra, extra_kinds = place_plates(img, int(rng.integers(1, 3)), plate_width, rng, priors,
                                          avoid=[p.corners for p in plates] + tiles_placed)
        plates += extra
        kinds += extra_kinds
    if augment:
        img = photometric(img, rng, assets.stain_textures(), p_stain=0.1, night=0.3)
    return Scene(img, plates, kinds, "parking")
