"""Synthetic Chinese plates: text drawn from CCPD priors, glyphs laid out as GA 36 prescribes.

GA 36 single-row plates, in millimetres (all characters 90 mm high, their top 25 mm from the top):

* blue / yellow / white (police), 440×140: seven 45 mm characters from x = 15.5, 12 mm apart,
  except a 34 mm gap after the 2nd character that holds the 10 mm separator dot.
* green new-energy, 480×140: the province 45 mm wide, the others 43 mm, 9 mm apart, except a
  49 mm gap after the 2nd character that holds the new-energy emblem (no dot).

Text: province by CCPD frequency mixed with a uniform share (all 31 appear), a letter, then
letters/digits; green small-car plates have D/F (or another energy letter) in 3rd place and 4
trailing digits, green large-vehicle plates 5 digits and D/F last; police plates end in 警,
driving-school (coach) plates in 学.

`render_plate` returns the plate image, its alpha (the rounded corners), the text and its four
corners (TL, TR, BR, BL) in the plate image's pixels, in the convention of
alprd.model.geometry.warp_plate: the corners of a W×H image are (0,0), (W,0), (W,H), (0,H).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alprd.model.charset import DIGITS, LETTERS
from pipelines.data.priors import Priors, load_priors
from pipelines.synth import assets
from pipelines.synth.augment import font_weight

CHAR_H_MM, CHAR_TOP_MM, LEFT_MM = 90.0, 25.0, 15.5
LAYOUTS = {
    # kind family: (plate size mm, char widths, gaps after each char but the last)
    440: ((440, 140), (45,) * 7, (12, 34, 12, 12, 12, 12)),
    480: ((480, 140), (45,) + (43,) * 7, (9, 49, 9, 9, 9, 9, 9)),
}
KIND_PROBS = {"blue": 0.62, "green": 0.16, "yellow": 0.12, "green_large": 0.03, "police": 0.035, "coach": 0.035}
KINDS = tuple(KIND_PROBS)
_ALNUM = LETTERS + DIGITS
_GREEN_SMALL_ENERGY = ("D", "F")              # pure electric / other (the classic rule)
_GREEN_SMALL_ENERGY_NEW = tuple("ABCEGHJK")   # letters added by the 2021 extension


@dataclass(frozen=True, eq=False)
class Plate:
    image: np.ndarray        # H×W×3 uint8 BGR
    alpha: np.ndarray        # H×W float32, 1 on the plate, 0 outside its rounded corners
    text: str
    kind: str
    corners: np.ndarray      # 4×2 float32: (0,0), (W,0), (W,H), (0,H)


def char_boxes_mm(n_chars: int) -> tuple[tuple[int, int], list[tuple[float, float, float, float]]]:
    """Plate size and each character's box (x0, y0, x1, y1) in mm for a 7- or 8-char plate."""
    size, widths, gaps = LAYOUTS[440 if n_chars == 7 else 480]
    boxes, x = [], LEFT_MM
    for i, w in enumerate(widths):
        boxes.append((x, CHAR_TOP_MM, x + w, CHAR_TOP_MM + CHAR_H_MM))
        x += w + (gaps[i] if i < len(gaps) else 0)
    return size, boxes


def sample_kind(rng: np.random.Generator, probs: dict[str, float] | None = None) -> str:
    probs = probs or KIND_PROBS
    kinds = list(probs)
    p = np.asarray([probs[k] for k in kinds], np.float64)
    return kinds[rng.choice(len(kinds), p=p / p.sum())]


def _alnum(rng: np.random.Generator, letter_p: float) -> str:
    pool = LETTERS if rng.random() < letter_p else DIGITS
    return pool[rng.integers(len(pool))]


def sample_text(rng: np.random.Generator, kind: str = "blue", priors: Priors | None = None,
                province_uniform: float = 0.4) -> str:
    """A plausible plate string for a plate kind."""
    priors = priors or load_priors()
    head = priors.province(rng, province_uniform) + priors.second_letter(rng)
    if kind in ("blue", "yellow"):
        # CCPD's per-position letter rates, flattened a little so letter-heavy plates occur
        lp = 0.6 * priors.pos_letter_prob + 0.4 * 0.3
        return head + "".join(_alnum(rng, p) for p in lp)
    if kind in ("police", "coach"):
        tail = "警" if kind == "police" else "学"
        return head + "".join(_alnum(rng, 0.15) for _ in range(4)) + tail
    if kind == "green":
        pool = _GREEN_SMALL_ENERGY if rng.random() < 0.85 else _GREEN_SMALL_ENERGY_NEW
        energy = pool[rng.integers(len(pool))]
        return head + energy + _alnum(rng, 0.35) + "".join(DIGITS[rng.integers(10)] for _ in range(4))
    if kind == "green_large":
        return head + "".join(DIGITS[rng.integers(10)] for _ in range(5)) + "DF"[rng.integers(2)]
    raise ValueError(f"unknown plate kind {kind!r} (expected one of {', '.join(KINDS)})")


def _template_for(kind: str) -> str:
    return {"blue": "blue", "yellow": "yellow", "coach": "yellow", "police": "white",
            "green": "green", "green_large": "green_large"}[kind]


_PROCEDURAL_BG = {"blue": (140, 40, 5), "yellow": (0, 195, 250), "white": (235, 235, 235), "green": (150, 220, 140),
                  "green_large": (130, 200, 120)}


def _background(kind: str, w: int, h: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    family = _template_for(kind)
    tpls = assets.templates().get(family, [])
    if tpls and rng.random() < 0.9:
        img, alpha = assets.template_at(family, int(rng.integers(len(tpls))), w, h)
    else:
        # plain plate: flat colour, a frame line, slight vertical shading
        colour = np.asarray(_PROCEDURAL_BG[family], np.float32)
        shade = np.linspace(1.05, 0.9, h, dtype=np.float32)[:, None, None]
        img = np.clip(colour[None, None, :] * shade * np.ones((h, w, 1), np.float32), 0, 255).astype(np.uint8)
        line = (245, 245, 245) if family == "blue" else (20, 20, 20)
        t = max(1, round(h / 70))
        cv2.rectangle(img, (t, t), (w - 1 - t, h - 1 - t), line, t)
        alpha = np.ones((h, w), np.float32)
    img = img.astype(np.float32)
    if family == "blue":
        # photographed blue paint ranges from navy to a light cyan-ish blue (CCPD dev plates:
        # median BGR ≈ (190, 100, 52), quartiles (113, 62, 27) … (224, 135, 91)); shift the
        # template's flat colour there, leaving its white frame, rivets and dot white
        b = rng.uniform(100, 240)
        g = b * rng.uniform(0.3, 0.65)
        target = np.array([b, g, g * rng.uniform(0.3, 0.7)], np.float32)
        base = img[h // 2, w // 12] if tpls else np.asarray(_PROCEDURAL_BG["blue"], np.float32)
        img = img + (target - base)
    # colour/brightness variation of the paint
    gain = rng.uniform(0.88, 1.1, size=3).astype(np.float32)
    img = np.clip(img * gain + rng.uniform(-10, 10), 0, 255)
    return img, alpha


def _ink_colour(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "blue":
        return np.asarray([rng.uniform(215, 255)] * 3, np.float32) - rng.uniform(0, 12, 3).astype(np.float32)
    return np.asarray([rng.uniform(5, 45)] * 3, np.float32) + rng.uniform(0, 10, 3).astype(np.float32)


def render_plate(text: str, kind: str, rng: np.random.Generator, px_per_mm: float = 0.5,
                 weight: bool = True) -> Plate:
    """Draw one plate. px_per_mm 0.5 gives a 220×70 (blue) or 240×70 (green) image."""
    n = len(text)
    if kind in ("green", "green_large"):
        if n != 8:
            raise ValueError(f"a green plate has 8 characters, got {text!r}")
    elif n != 7:
        raise ValueError(f"a {kind} plate has 7 characters, got {text!r}")
    (wmm, hmm), boxes = char_boxes_mm(n)
    w, h = round(wmm * px_per_mm), round(hmm * px_per_mm)
    bg, alpha = _background(kind, w, h, rng)
    style = "green" if kind in ("green", "green_large") else "blue"
    variants = assets.glyph_sets()[style]
    glyphs = variants[rng.integers(len(variants))]

    ink = np.zeros((h, w), np.float32)
    red = np.zeros((h, w), np.float32)          # police 警 is printed in red
    dx, dy = rng.normal(0, 0.8, 2)              # the whole text block, mm
    for i, (ch, (x0, y0, x1, y1)) in enumerate(zip(text, boxes)):
        jx, jy = rng.normal(0, 0.3, 2)
        s = rng.uniform(0.97, 1.03)
        cx, cy = (x0 + x1) / 2 + dx + jx, (y0 + y1) / 2 + dy + jy
        gw, gh = (x1 - x0) * s, (y1 - y0) * s
        px0, py0 = round((cx - gw / 2) * px_per_mm), round((cy - gh / 2) * px_per_mm)
        pw, ph = max(2, round(gw * px_per_mm)), max(2, round(gh * px_per_mm))
        g = cv2.resize(glyphs[ch], (pw, ph), interpolation=cv2.INTER_AREA)
        # clip to the plate
        gx0, gy0 = max(0, -px0), max(0, -py0)
        ex, ey = min(w, px0 + pw), min(h, py0 + ph)
        target = red if (kind == "police" and ch == "警") else ink
        sub = target[py0 + gy0:ey, px0 + gx0:ex]
        np.maximum(sub, g[gy0:gy0 + sub.shape[0], gx0:gx0 + sub.shape[1]], out=sub)
    if weight:
        ink = font_weight(ink, rng)
    colour = _ink_colour(kind, rng)
    img = bg * (1 - ink[..., None]) + colour * ink[..., None]
    if kind == "police":
        img = img * (1 - red[..., None]) + np.asarray([30, 30, 200], np.float32) * red[..., None]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    return Plate(np.clip(img, 0, 255).astype(np.uint8), alpha, text, kind, corners)


def random_plate(rng: np.random.Generator, px_per_mm: float = 0.5, kind: str | None = None,
                 kind_probs: dict[str, float] | None = None, priors: Priors | None = None) -> Plate:
    """A plate of a random kind (KIND_PROBS) with random text."""
    kind = kind or sample_kind(rng, kind_probs)
    return render_plate(sample_text(rng, kind, priors), kind, rng, px_per_mm)
