"""Recipe "street" for DSNet (issue #24): what a street or parking camera sees that CCPD lacks.

A 16:9 frame (1920×1080 or 1280×720) of a plate-free background with 1-5 plates: a share of them
small (30-60 px wide at 1080p: distant cars, about 8-16 px once letterboxed into a 512 view),
a share two-row (pipelines.synth.two_row: trucks, trailers, motorcycles; their label is the
plate's OUTER corners, TL TR BR BL, and its 7 characters in reading order), the rest single-row
at ordinary sizes. Then, on a share of frames, a camera's worst over the whole frame: the 1/100 s
shutter's horizontal smear (5-25 px at 1080p), headlight glare, dusk or IR grey.
"""
from __future__ import annotations

import numpy as np

from pipelines.data.priors import Priors, load_priors
from pipelines.synth import assets
from pipelines.synth.augment import dusk, headlight_glare, ir_grey, motion_blur, photometric, random_quad
from pipelines.synth.scenes import (PlateInstance, Scene, _boxes_overlap, _inside, paste_plate, plate_for_quad,
                                    quantize_ppm, random_background, random_plate_quad)

SIZES = ((1920, 1080), (1280, 720))
SMALL_P = 0.35          # share of plates 30-60 px wide (at 1080p)
TWO_ROW_P = 0.3         # share of two-row plates
HARD_P = 0.4            # share of frames given one of the camera's worst


def _two_row_plate(width: float, rng: np.random.Generator, priors: Priors | None):
    from pipelines.synth import two_row as TR

    kind = TR.sample_kind(rng)
    wmm, hmm = TR.SIZES_MM[kind]
    quad = random_quad(width, width * hmm / wmm, rng, max_rot_deg=8, max_persp=0.1)
    plate = TR.random_two_row(rng, quantize_ppm(1.3 * width / wmm), kind, priors)
    return quad, plate


def street_scene(rng: np.random.Generator, priors: Priors | None = None, hard: bool = True,
                 size: tuple[int, int] | None = None, augment: bool = False) -> Scene:
    """One frame; `hard`: a camera's worst on HARD_P of them; `augment`: also the ordinary
    photometric chain (the detection dataset applies it itself when letterboxing)."""
    priors = priors or load_priors()
    w, h = size or SIZES[int(rng.integers(len(SIZES)))]
    img = random_background(w, h, rng)
    scale = w / 1920
    placed, plates, kinds = [], [], []
    for _ in range(int(rng.integers(1, 6))):
        small = rng.random() < SMALL_P
        width = float(np.exp(rng.uniform(np.log(30), np.log(60)))) if small else float(rng.uniform(70, 400))
        width *= scale
        for _attempt in range(20):
            if rng.random() < TWO_ROW_P:
                quad, plate = _two_row_plate(width, rng, priors)
                kind = plate.kind
            else:
                plate = None
                text_quad = random_plate_quad(width, 7, rng, priors)
                quad, kind = text_quad, "single"
            quad = quad + np.array([rng.uniform(0, w), rng.uniform(0, h)], np.float32)
            if _inside(quad, w, h, 2.0) and not any(_boxes_overlap(quad, p) for p in placed):
                break
        else:
            continue
        if plate is None:
            plate = plate_for_quad(quad, rng, priors=priors)
        paste_plate(img, plate, quad, gain=rng.uniform(0.7, 1.1), blur_sigma=rng.uniform(0, 1.0))
        placed.append(quad)
        plates.append(PlateInstance(quad.astype(np.float32), plate.text))
        kinds.append(kind)
    if augment:
        img = photometric(img, rng, assets.stain_textures())
    if hard and rng.random() < HARD_P:
        mode = int(rng.integers(4))
        if mode == 0:
            img = motion_blur(img, rng, (max(2, round(5 * scale)), max(3, round(25 * scale))),
                              angle=float(rng.normal(0, 4)))
        else:
            img = (headlight_glare, dusk, ir_grey)[mode - 1](img, rng)
    return Scene(img, plates, kinds, "street")
