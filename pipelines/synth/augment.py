"""Image variation for synthetic (and real) training samples.

Every function takes a numpy Generator and is a pure function of its inputs and that generator,
so a sample is reproducible from its seed. Photometric functions take and return H×W×3 uint8 BGR;
geometric helpers return the homography too, so corners can be carried along exactly.
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

# ---------------------------------------------------------------- glyph ink


def font_weight(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thinner or bolder strokes: erode/dilate a float ink mask by about a pixel (or not)."""
    r = rng.random()
    if r < 0.5:
        return mask
    k = np.ones((2, 2), np.uint8) if r < 0.85 else np.ones((3, 3), np.uint8)
    if rng.random() < 0.5:
        return cv2.erode(mask, k)
    return cv2.dilate(mask, k)


# ---------------------------------------------------------------- photometric


def stains(img: np.ndarray, rng: np.random.Generator, textures: list[np.ndarray],
           strength: tuple[float, float] = (0.2, 0.7)) -> np.ndarray:
    """Dirt: multiply by a random crop of a grey stain texture (255 = clean)."""
    if not textures:
        return img
    tex = textures[rng.integers(len(textures))]
    h, w = img.shape[:2]
    th, tw = tex.shape[:2]
    ch = int(rng.integers(min(th, max(32, h)), th + 1))
    cw = min(tw, max(32, int(ch * w / max(h, 1))))
    y, x = rng.integers(0, th - ch + 1), rng.integers(0, tw - cw + 1)
    crop = cv2.resize(tex[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    a = rng.uniform(*strength)
    factor = 1.0 - a * (1.0 - crop / 255.0)
    return np.clip(img.astype(np.float32) * factor[..., None], 0, 255).astype(np.uint8)


def gaussian_blur(img: np.ndarray, rng: np.random.Generator, sigma: tuple[float, float] = (0.3, 1.5)) -> np.ndarray:
    s = float(rng.uniform(*sigma))
    return cv2.GaussianBlur(img, (0, 0), s) if s > 0.05 else img


@lru_cache(maxsize=256)
def _motion_kernel(length: int, angle_deg: int) -> np.ndarray:
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    t = np.deg2rad(angle_deg)
    dx, dy = np.cos(t) * c, np.sin(t) * c
    cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return k / k.sum()


def motion_blur(img: np.ndarray, rng: np.random.Generator, length: tuple[int, int] = (3, 9),
                angle: float | None = None) -> np.ndarray:
    """Linear motion blur; mostly horizontal (cars move sideways across a camera) unless angle."""
    n = int(rng.integers(length[0], length[1] + 1))
    if n < 2:
        return img
    if angle is None:
        angle = rng.normal(0, 15) if rng.random() < 0.8 else rng.uniform(0, 180)
    return cv2.filter2D(img, -1, _motion_kernel(n, int(round(angle)) % 180))


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    """A fixed 1024×1024 field of N(0, 1) noise × 16 (int8), cut at random offsets: drawing fresh
    normals for a 1080p frame costs ~50 ms, a crop of this ~1 ms. Seeded, so reproducible."""
    g = np.random.default_rng(12345).standard_normal((1024, 1024), dtype=np.float32) * 16.0
    return np.clip(g, -127, 127).astype(np.int8)


@lru_cache(maxsize=4)
def _tiled_bank(ry: int, rx: int) -> np.ndarray:
    return np.tile(_noise_bank(), (ry, rx))


def noise_field(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An h×w int8 field of N(0, 16²) noise (a random window of the periodic bank)."""
    bh, bw = _noise_bank().shape
    bank = _tiled_bank(-(-h // bh) + 1, -(-w // bw) + 1)
    y, x = int(rng.integers(0, bh)), int(rng.integers(0, bw))
    field = bank[y:y + h, x:x + w]
    if rng.random() < 0.5:
        field = field[::-1]
    if rng.random() < 0.5:
        field = field[:, ::-1]
    return field


def noise(img: np.ndarray, rng: np.random.Generator, sigma: tuple[float, float] = (2.0, 10.0)) -> np.ndarray:
    """Sensor noise: gaussian, mostly luminance (shared by the channels) plus a little chroma."""
    s = rng.uniform(*sigma)
    h, w = img.shape[:2]
    luma = noise_field(h, w, rng).astype(np.float32) * (s / 16.0)
    chans = [luma, luma, luma]
    if rng.random() < 0.5:
        c = int(rng.integers(3))
        chans[c] = luma + noise_field(h, w, rng).astype(np.float32) * (s * 0.4 / 16.0)
    # saturating uint8 + float32 → uint8 in one OpenCV pass
    return cv2.add(img, cv2.merge(chans), dtype=cv2.CV_8U)


def _lut(img: np.ndarray, curves: np.ndarray) -> np.ndarray:
    """Apply per-channel tone curves (3×256 floats in 0..1 of the input level) with cv2.LUT."""
    lut = np.clip(curves * 255.0, 0, 255).astype(np.uint8).T.reshape(256, 1, 3)
    return cv2.LUT(img, np.ascontiguousarray(lut))


def exposure(img: np.ndarray, rng: np.random.Generator, mode: str | None = None) -> np.ndarray:
    """normal (gain/gamma/contrast), night (dark, warm or blue cast, noisy), over (blown out),
    glare (a bright spot, e.g. headlight or sun reflection). Tone changes are 256-entry LUTs."""
    if mode is None:
        mode = rng.choice(["normal", "night", "over", "glare"], p=[0.6, 0.2, 0.1, 0.1])
    x = np.linspace(0, 1, 256, dtype=np.float32)[None, :].repeat(3, axis=0)
    if mode == "normal":
        f = x ** rng.uniform(0.7, 1.4)
        f = (f - 0.5) * rng.uniform(0.75, 1.25) + 0.5 + rng.uniform(-0.1, 0.1)
        return _lut(img, f)
    if mode == "night":
        cast = np.array([1.15, 1.0, 0.85] if rng.random() < 0.5 else [0.85, 0.95, 1.15], np.float32)
        f = x ** rng.uniform(1.2, 2.0) * rng.uniform(0.25, 0.6) * cast[:, None]
        return noise(_lut(img, f), rng, (2.0, 8.0))
    if mode == "over":
        return _lut(img, x * rng.uniform(1.3, 1.8) + rng.uniform(0.0, 0.12))
    if mode == "glare":
        h, w = img.shape[:2]
        sh, sw = max(2, h // 8), max(2, w // 8)
        cx, cy = rng.uniform(0, sw), rng.uniform(0, sh)
        r = rng.uniform(0.1, 0.4) * max(sh, sw)
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)) * (255 * rng.uniform(0.3, 0.9))
        spot = cv2.resize(spot.astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
        return cv2.add(img, cv2.merge([spot, spot, spot]))
    raise ValueError(f"unknown exposure mode {mode!r}")


def jpeg(img: np.ndarray, rng: np.random.Generator, quality: tuple[int, int] = (25, 90)) -> np.ndarray:
    q = int(rng.integers(quality[0], quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else img


def photometric(img: np.ndarray, rng: np.random.Generator, textures: list[np.ndarray] | None = None,
                p_stain: float = 0.3, p_blur: float = 0.5, p_motion: float = 0.25, p_exposure: float = 0.8,
                p_noise: float = 0.6, p_jpeg: float = 0.5, night: float | None = None) -> np.ndarray:
    """A random chain of the above, in the order a camera produces them (the scene's light and
    dirt, then optics and motion, then sensor noise, then compression). `night` forces the
    probability of the night exposure."""
    if textures and rng.random() < p_stain:
        img = stains(img, rng, textures)
    if rng.random() < p_exposure:
        mode = None
        if night is not None:
            mode = "night" if rng.random() < night else rng.choice(["normal", "over", "glare"], p=[0.75, 0.125, 0.125])
        img = exposure(img, rng, mode)
    if rng.random() < p_blur:
        img = gaussian_blur(img, rng)
    if rng.random() < p_motion:
        img = motion_blur(img, rng)
    if rng.random() < p_noise:
        img = noise(img, rng)
    if rng.random() < p_jpeg:
        img = jpeg(img, rng)
    return img


# ---------------------------------------------------------------- geometric


def apply_h(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Map N×2 (or …×2) points through a 3×3 homography."""
    pts = np.asarray(pts, np.float32)
    flat = pts.reshape(-1, 2)
    out = cv2.perspectiveTransform(flat[None], h.astype(np.float64))[0]
    return out.reshape(pts.shape).astype(np.float32)


def random_quad(w: float, h: float, rng: np.random.Generator, max_rot_deg: float = 10.0,
                max_persp: float = 0.12, scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Corners (TL,TR,BR,BL) of a w×h rectangle after a random scale, rotation about its centre,
    and independent corner shifts (perspective) of up to max_persp × the plate height."""
    s = rng.uniform(*scale)
    t = np.deg2rad(rng.uniform(-max_rot_deg, max_rot_deg))
    base = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]], np.float32) * s
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], np.float32)
    q = base @ rot.T
    q += rng.uniform(-max_persp, max_persp, (4, 2)).astype(np.float32) * h * s
    return q


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    return cv2.getPerspectiveTransform(np.asarray(src, np.float32), np.asarray(dst, np.float32))


def jitter_corners(corners: np.ndarray, rng: np.random.Generator, frac: float = 0.04) -> np.ndarray:
    """Imitate a detector's corner error: each corner moves by up to frac × the plate's size
    (separately along the plate's width and height directions)."""
    c = np.asarray(corners, np.float32)
    w = np.linalg.norm(c[1] - c[0]) + 1e-6
    h = np.linalg.norm(c[3] - c[0]) + 1e-6
    ux, uy = (c[1] - c[0]) / w, (c[3] - c[0]) / h
    a = rng.uniform(-frac, frac, (4, 1)).astype(np.float32) * w
    b = rng.uniform(-frac, frac, (4, 1)).astype(np.float32) * h * 2.0
    return c + a * ux + b * uy


# ---------------------------------------------------------------- a street camera's worst


HARD_MODES = ("motion", "glare", "dusk", "ir", "lowres")


def shutter_blur(img: np.ndarray, rng: np.random.Generator, length: tuple[int, int] = (4, 20)) -> np.ndarray:
    """A car passing a 1/100 s shutter: a horizontal linear smear (±4°). On a 144-px-wide plate
    crop 4-20 px is about the 5-25 px of a 150-200-px plate in a 1080p frame."""
    return motion_blur(img, rng, length, angle=float(rng.normal(0, 4)))


PLATE_SMEAR = (0.0, 0.2)


def plate_smear(img: np.ndarray, corners: np.ndarray, rng: np.random.Generator,
                frac: tuple[float, float] = PLATE_SMEAR) -> np.ndarray:
    """A car crossing the shutter, sized to the plate: a horizontal line smear (±3°) whose length
    is `frac` (uniform) of the plate's width, applied to the frame around the plate before it is
    warped out, so the smear drags in what surrounds the plate as a camera's does. The stress set
    ccpd_mblur (21 px on 125-285-px CCPD plates) is 7-17 % of the width; shutter_blur's 4-20 px on
    a 144-px crop only reaches 14 %, on one crop in ~15. Returns a new image; `img` is untouched."""
    c = np.asarray(corners, np.float32).reshape(-1, 2)
    width = 0.5 * (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3]))
    n = int(round(rng.uniform(*frac) * width))
    angle = int(round(rng.normal(0, 3))) % 180
    if n < 2:
        return img
    h, w = img.shape[:2]
    (x0, y0), (x1, y1) = c.min(0), c.max(0)
    pad = n + 2
    x0, y0 = int(max(0, x0 - 2 * pad)), int(max(0, y0 - pad))
    x1, y1 = int(min(w, x1 + 2 * pad + 1)), int(min(h, y1 + pad + 1))
    out = img.copy()
    out[y0:y1, x0:x1] = cv2.filter2D(img[y0:y1, x0:x1], -1, _motion_kernel(n, angle), borderType=cv2.BORDER_REFLECT)
    return out


def headlight_glare(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dusk with headlights: a large, bright bloom that lifts the blacks and washes the
    contrast out over part of the image (a plain exposure 'glare' spot is small and additive)."""
    h, w = img.shape[:2]
    sh, sw = max(2, h // 8), max(2, w // 8)          # the bloom is smooth: drawn at 1/8 size
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    cx, cy = rng.uniform(-0.2, 1.2) * sw, rng.uniform(-0.3, 1.3) * sh
    r = rng.uniform(0.25, 0.8) * max(sw, sh)
    spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)) * rng.uniform(0.45, 0.9)
    spot = cv2.resize(spot, (w, h), interpolation=cv2.INTER_LINEAR)
    tint = np.array([rng.uniform(200, 255), rng.uniform(225, 255), 255], np.float32)
    dark = img.astype(np.float32) * rng.uniform(0.45, 0.9)
    out = dark * (1 - spot[..., None]) + tint * spot[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def dusk(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Low light: dark, low contrast, a colour cast and strong sensor noise."""
    x = np.linspace(0, 1, 256, dtype=np.float32)[None, :].repeat(3, axis=0)
    cast = rng.uniform(0.8, 1.15, 3).astype(np.float32)[:, None]
    f = (x ** rng.uniform(1.2, 2.2)) * rng.uniform(0.12, 0.4) * cast + rng.uniform(0.0, 0.05)
    return noise(_lut(img, f), rng, (4.0, 14.0))


def ir_grey(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An infrared night camera: grey, a random mix of the channels (paints reflect IR unlike
    visible light), sometimes the plate brighter than its characters whatever its colour."""
    wts = rng.dirichlet((1.0, 1.0, 1.0)).astype(np.float32)
    grey = img.astype(np.float32) @ wts
    if rng.random() < 0.3:
        grey = 255 - grey
    lo, hi = np.percentile(grey, 2), np.percentile(grey, 98)
    grey = (grey - lo) / max(hi - lo, 1) * rng.uniform(150, 255) + rng.uniform(0, 40)
    g = np.clip(grey, 0, 255).astype(np.uint8)
    return noise(cv2.merge([g, g, g]), rng, (2.0, 8.0))


def low_res_updown(img: np.ndarray, rng: np.random.Generator, width: tuple[float, float] = (22.0, 70.0)) -> np.ndarray:
    """A small, distant plate: the image shrunk to `width` px wide (log-uniform), then enlarged
    back to its size as the cascade's warp enlarges it."""
    h, w = img.shape[:2]
    tw = float(np.exp(rng.uniform(*np.log(width))))
    if tw >= w:
        return img
    sw, sh = max(2, round(tw)), max(2, round(h * tw / w))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        small = jpeg(small, rng, (30, 80))
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR if rng.random() < 0.6 else cv2.INTER_CUBIC)


def camera_hard(img: np.ndarray, rng: np.random.Generator, modes: tuple[str, ...] | None = None) -> np.ndarray:
    """One or two of HARD_MODES (or the given ones, in order) on a rectified plate crop."""
    if modes is None:
        k = 1 if rng.random() < 0.7 else 2
        modes = tuple(HARD_MODES[i] for i in sorted(rng.choice(len(HARD_MODES), size=k, replace=False)))
    fn = {"motion": shutter_blur, "glare": headlight_glare, "dusk": dusk, "ir": ir_grey, "lowres": low_res_updown}
    for m in modes:
        if m not in fn:
            raise ValueError(f"unknown camera mode {m!r} (expected one of {', '.join(HARD_MODES)})")
        img = fn[m](img, rng)
    return img
