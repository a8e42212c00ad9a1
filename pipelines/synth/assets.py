"""Loading (and per-process caching) of the synthesis assets under shared/data/synth.

Glyphs are the GA 36 character bitmaps of the leijd/sevenHsu generators (all 31 provinces, 警,
学, letters, digits): black-on-white JPEGs or alpha PNGs, returned as float32 ink masks (1 = ink).
Two styles: "blue" (the 440 mm plate font, also used on yellow/white plates) and "green" (the
narrower new-energy font). Plate backgrounds are the templates drawn at GA 36 proportions (dot /
new-energy emblem at the right place); textures are the "smu" stain images; backgrounds for
scenes are plate-free pictures (CCPD "np" samples, NoPlates crops).

Everything is cached per process (DataLoader workers each load once, ~20 MB).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from alprd.model.charset import DIGITS, LETTERS, REGION_CHARS, SPECIAL_CHARS
from pipelines.data import data_root

GLYPH_CHARS = REGION_CHARS + SPECIAL_CHARS + LETTERS + DIGITS

_LEIJD = "leijd_chinese_license_plate_generator"
_SEVEN = "sevenHsu_LicensePlateChars"
_SZAD = "szad670401_end-to-end-for-chinese-plate-recognition"
_UFOWNL = "ufownl_fake_chs_lp"
TEMPLATE_PX_PER_MM = 2.0


def synth_root() -> Path:
    root = data_root(required=True) / "synth"
    if not (root / _LEIJD / "font_model").is_dir():
        raise FileNotFoundError(f"{root}/{_LEIJD}/font_model is missing: the plate glyph bitmaps are "
                                "needed to render synthetic plates")
    return root


def assets_available() -> bool:
    try:
        synth_root()
    except FileNotFoundError:
        return False
    return True


def _read(path: Path, flags=cv2.IMREAD_UNCHANGED) -> np.ndarray:
    # imdecode: cv2.imread cannot open non-ASCII paths on every platform
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, flags) if data.size else None
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return img


def _ink_mask(img: np.ndarray) -> np.ndarray:
    """Black-on-white bitmap or alpha PNG → float32 ink mask in [0, 1]."""
    if img.ndim == 3 and img.shape[2] == 4:
        return img[:, :, 3].astype(np.float32) / 255.0
    gray = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    m = 1.0 - gray.astype(np.float32) / 255.0
    # the JPEG bitmaps are binary at heart: sharpen the compression halo away
    return np.clip((m - 0.2) / 0.6, 0.0, 1.0)


@lru_cache(maxsize=None)
def glyph_sets() -> dict[str, list[dict[str, np.ndarray]]]:
    """style → list of variants, each a dict char → ink mask (native resolution)."""
    root = synth_root()
    font = root / _LEIJD / "font_model"
    blue = {c: _ink_mask(_read(font / f"140_{c}.jpg")) for c in GLYPH_CHARS if (font / f"140_{c}.jpg").is_file()}
    green_a = {c: _ink_mask(_read(font / f"green_{c}.jpg")) for c in GLYPH_CHARS
               if (font / f"green_{c}.jpg").is_file()}
    green_b: dict[str, np.ndarray] = {}
    for sub in ("ProChars", "AlpChars"):
        d = root / _SEVEN / sub
        for c in GLYPH_CHARS:
            if (d / f"{c}.png").is_file():
                green_b[c] = _ink_mask(_read(d / f"{c}.png"))
    missing = [c for c in GLYPH_CHARS if c not in blue]
    if missing:
        raise FileNotFoundError(f"glyph bitmaps missing for {''.join(missing)} in {font}")
    # the new-energy font has no 警/学 (never on a green plate); fall back to the blue glyphs
    sets = {"blue": [blue], "green": [g for g in (green_a, green_b) if g]}
    for variant in sets["green"]:
        for c in GLYPH_CHARS:
            variant.setdefault(c, blue[c])
    return sets


@dataclass(frozen=True)
class Template:
    image: np.ndarray          # H×W×3 uint8 BGR
    alpha: np.ndarray          # H×W float32 (rounded corners are transparent)
    size_mm: tuple[int, int]   # plate width, height in mm


@lru_cache(maxsize=None)
def templates() -> dict[str, list[Template]]:
    """Plate backgrounds by colour, drawn at GA 36 proportions."""
    root = synth_root()
    spec = {
        "blue": [(_LEIJD + "/plate_model/blue_140.PNG", (440, 140))],
        "yellow": [(_LEIJD + "/plate_model/yellow_140.PNG", (440, 140))],
        "white": [(_LEIJD + "/plate_model/white_140.PNG", (440, 140))],
        "green": [(_UFOWNL + "/res/green_bg_0.png", (480, 140)), (_LEIJD + "/plate_model/green_140.PNG", (480, 140)),
                  (_LEIJD + "/plate_model_pengfei8324/green_car_140.PNG", (480, 140))],
        # large new-energy vehicles: yellow under the first two characters, green after
        "green_large": [(_UFOWNL + "/res/green_bg_1.png", (480, 140)),
                        (_LEIJD + "/plate_model/green_yellow_140.PNG", (480, 140))],
    }
    out: dict[str, list[Template]] = {}
    for kind, items in spec.items():
        for rel, size in items:
            p = root / rel
            if not p.is_file():
                continue
            img = _read(p)
            if img.ndim == 2:
                img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            if img.shape[2] == 4:
                alpha = img[:, :, 3].astype(np.float32) / 255.0
                img = np.ascontiguousarray(img[:, :, :3])
            else:
                alpha = np.ones(img.shape[:2], np.float32)
            # keep them at TEMPLATE_PX_PER_MM: big enough for any plate we draw, cheap to shrink
            wh = (round(size[0] * TEMPLATE_PX_PER_MM), round(size[1] * TEMPLATE_PX_PER_MM))
            img = cv2.resize(img, wh, interpolation=cv2.INTER_AREA)
            alpha = cv2.resize(alpha, wh, interpolation=cv2.INTER_AREA)
            out.setdefault(kind, []).append(Template(img, alpha, size))
    return out


@lru_cache(maxsize=384)
def template_at(kind: str, index: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """A template resized to w×h (cached: plates are drawn at a handful of sizes). Read-only."""
    t = templates()[kind][index]
    img = cv2.resize(t.image, (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(t.alpha, (w, h), interpolation=cv2.INTER_AREA)
    img.flags.writeable = False
    alpha.flags.writeable = False
    return img, alpha


@lru_cache(maxsize=None)
def stain_textures() -> list[np.ndarray]:
    """Grey stain/dirt textures (uint8, 255 = clean), used multiplicatively."""
    d = synth_root() / _SZAD / "images"
    out = []
    for name in ("smu.jpg", "smu2.jpg"):
        if (d / name).is_file():
            out.append(_read(d / name, cv2.IMREAD_GRAYSCALE))
    return out


@lru_cache(maxsize=None)
def background_images() -> list[np.ndarray]:
    """Plate-free real pictures for scene backgrounds: CCPD's "np" (no plate) samples and the
    NoPlates crops (136×36, used as textures). Never images that show unlabeled plates."""
    root = data_root(required=True)
    paths = sorted((root / "ccpd_unlabeled_samples" / "detectRecog_CCPD" / "sample" / "np").glob("*.jpg"))
    paths += sorted((synth_root() / _SZAD / "NoPlates").glob("*.jpg"))
    return [_read(p, cv2.IMREAD_COLOR) for p in paths]
