"""torch Datasets for training DSNet (detection) and RSNet (recognition).

Every item is a pure function of (seed, epoch, index): `np.random.default_rng([seed, epoch,
index])` drives all randomness, so DataLoader workers reproduce the same samples whatever their
number or order; `set_epoch(e)` gives fresh samples each epoch. Use `worker_init_fn` in the
DataLoader so each worker runs OpenCV/torch single-threaded.

Detector input: alprd.model.geometry.letterbox (the serving policy) to size×size, corners mapped
with the same Letterbox; recogniser input: geometry.warp_plate to 144×48 (width×height). Both
are normalised with geometry.normalize ([-1, 1]) unless normalize=False (then uint8 CHW, to
normalise on the GPU). Only `dev` real data is used for training; `CcpdDataset(split="holdout")`
exists for evaluation and refuses augmentation.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from alprd.model import geometry
from alprd.model.charset import DIGITS, LETTERS, encode
from pipelines.data import data_root as _data_root
from pipelines.data.ccpd import CcpdSample, load_ccpd_split
from pipelines.data.crops import load_real_crops
from pipelines.data.priors import load_priors
from pipelines.synth import assets
from pipelines.synth.augment import camera_hard, jitter_corners, photometric, plate_smear, random_quad, stains
from pipelines.synth.glyph_swap import MIN_FIT, fit_layout, is_blue, swap_cell
from pipelines.synth.plates import random_plate
from pipelines.synth.scenes import (Scene, background_scene, ccpd_swap_scene, parking_scene, paste_plate,
                                    quantize_ppm, random_background, read_image)

DEFAULT_RECIPES = {"ccpd_swap": 0.4, "background": 0.25, "parking": 0.35}


def worker_init_fn(worker_id: int) -> None:
    """DataLoader workers: one thread each for OpenCV and torch (the workers are the parallelism)."""
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _to_tensor(img: np.ndarray, normalize: bool) -> torch.Tensor:
    if normalize:
        return geometry.normalize(img[None])[0]
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


class _Seeded(Dataset):
    def __init__(self, seed: int):
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])


# ---------------------------------------------------------------- detection


def random_crop(image: np.ndarray, corners: np.ndarray, rng: np.random.Generator,
                aspects=(16 / 9, 4 / 3, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Crop a window of a random aspect that keeps every plate whole (with a margin), so CCPD's
    portrait stills also look like the landscape camera frames the detector will serve."""
    h, w = image.shape[:2]
    if len(corners) == 0:
        return image, corners
    lo = corners.reshape(-1, 2).min(axis=0)
    hi = corners.reshape(-1, 2).max(axis=0)
    margin = 0.3 * (hi - lo).max()
    need_w, need_h = hi[0] - lo[0] + 2 * margin, hi[1] - lo[1] + 2 * margin
    aspect = aspects[rng.integers(len(aspects))]
    cw = rng.uniform(max(need_w, need_h * aspect), max(need_w, need_h * aspect, w) + 1)
    cw = min(cw, w)
    ch = min(h, cw / aspect)
    cw, ch = int(max(cw, 8)), int(max(ch, 8))
    x_lo, x_hi = max(0, int(hi[0] + margin - cw)), min(w - cw, int(lo[0] - margin))
    y_lo, y_hi = max(0, int(hi[1] + margin - ch)), min(h - ch, int(lo[1] - margin))
    if x_hi < x_lo or y_hi < y_lo:
        return image, corners
    x = int(rng.integers(x_lo, x_hi + 1))
    y = int(rng.integers(y_lo, y_hi + 1))
    return image[y:y + ch, x:x + cw], corners - np.array([x, y], np.float32)


def letterbox_item(image: np.ndarray, corners: np.ndarray, texts: list[str], size: int,
                   rng: np.random.Generator | None, augment: bool, normalize: bool, photometric_kw=None) -> dict:
    """Letterbox (geometry.letterbox), map the corners, apply photometric variation to the
    picture part of the view only (the padding stays the serving grey)."""
    view, lb = geometry.letterbox(image, size)
    if augment and rng is not None:
        nh, nw = round(image.shape[0] * lb.scale), round(image.shape[1] * lb.scale)
        content = view[lb.pad_y:lb.pad_y + nh, lb.pad_x:lb.pad_x + nw]
        view[lb.pad_y:lb.pad_y + nh, lb.pad_x:lb.pad_x + nw] = photometric(
            np.ascontiguousarray(content), rng, assets.stain_textures(), **(photometric_kw or {}))
    cv = lb.to_view(corners.reshape(-1, 4, 2)) if len(corners) else np.zeros((0, 4, 2), np.float32)
    return {"image": _to_tensor(view, normalize), "corners": torch.from_numpy(cv.astype(np.float32)),
            "texts": list(texts), "scale": lb.scale, "pad": (lb.pad_x, lb.pad_y)}


def detection_collate(batch: list[dict]) -> dict:
    """Stack images; corners and texts stay per-image lists (variable plate counts)."""
    return {"images": torch.stack([b["image"] for b in batch]), "corners": [b["corners"] for b in batch],
            "texts": [b["texts"] for b in batch]}


class SynthDetectionDataset(_Seeded):
    """Synthetic scenes (recipes of pipelines.synth.scenes, mixed by `recipes` weights) →
    {"image": 3×size×size, "corners": N×4×2 (view pixels, TL,TR,BR,BL), "texts": [N str], ...}."""

    def __init__(self, length: int = 100_000, seed: int = 0, size: int = 512, recipes: dict | None = None,
                 data_root: str | Path | None = None, augment: bool = True, normalize: bool = True):
        super().__init__(seed)
        self.length, self.size, self.augment, self.normalize = int(length), size, augment, normalize
        root = Path(data_root) if data_root else _data_root(required=True)
        self.ccpd: list[CcpdSample] = load_ccpd_split(root, "dev")
        recipes = dict(recipes or DEFAULT_RECIPES)
        if not self.ccpd:
            recipes.pop("ccpd_swap", None)
        self.recipes = list(recipes)
        p = np.asarray([recipes[r] for r in self.recipes], np.float64)
        self.recipe_p = p / p.sum()

    def __len__(self) -> int:
        return self.length

    def scene(self, index: int, rng: np.random.Generator | None = None) -> Scene:
        rng = rng or self.rng(index)
        recipe = self.recipes[rng.choice(len(self.recipes), p=self.recipe_p)]
        priors = load_priors()
        if recipe == "ccpd_swap":
            sc = ccpd_swap_scene(self.ccpd[rng.integers(len(self.ccpd))], rng, priors, augment=False)
            if rng.random() < 0.5:
                img, c = random_crop(sc.image, np.stack([p.corners for p in sc.plates]), rng)
                sc = Scene(img, [p._replace(corners=ci) for p, ci in zip(sc.plates, c)], sc.kinds, sc.recipe)
            return sc
        if recipe == "background":
            return background_scene(rng, priors=priors, augment=False)
        if recipe == "parking":
            return parking_scene(rng, self.ccpd, priors=priors, augment=False)
        if recipe == "street":       # small, two-row, blurred, glared, dark plates (issue #24)
            from pipelines.synth.street import street_scene

            return street_scene(rng, priors=priors, hard=self.augment)
        raise ValueError(f"unknown recipe {recipe!r}")

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(index)
        rng = self.rng(index)
        sc = self.scene(index, rng)
        corners = np.stack([p.corners for p in sc.plates]) if sc.plates else np.zeros((0, 4, 2), np.float32)
        kw = {"night": 0.3} if sc.recipe == "parking" else None
        item = letterbox_item(sc.image, corners, [p.text for p in sc.plates], self.size, rng,
                              self.augment, self.normalize, kw)
        item["recipe"] = sc.recipe
        return item


class CcpdDataset(_Seeded):
    """Real CCPD stills with their file-name labels (one plate each), letterboxed like serving.
    split="dev" for training/tuning; "holdout" only for the final evaluation (no augmentation)."""

    def __init__(self, split: str = "dev", size: int = 512, augment: bool = False, seed: int = 0,
                 data_root: str | Path | None = None, normalize: bool = True):
        super().__init__(seed)
        if split == "holdout" and augment:
            raise ValueError("the holdout split is for evaluation only: augmentation is refused")
        root = Path(data_root) if data_root else _data_root(required=True)
        self.samples = load_ccpd_split(root, split)
        self.split, self.size, self.augment, self.normalize = split, size, augment, normalize

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        s = self.samples[index]
        img = read_image(s.path)
        corners = s.label.corners[None].copy()
        rng = self.rng(index) if self.augment else None
        if rng is not None and rng.random() < 0.5:
            img, corners = random_crop(img, corners, rng)
        item = letterbox_item(img, corners, [s.label.text], self.size, rng, self.augment, self.normalize)
        item["path"] = str(s.path)
        return item


# ---------------------------------------------------------------- recognition


def ctc_collate(batch: list[dict]) -> dict:
    """images B×3×48×144, targets (ΣL,) concatenated class indices, target_lengths (B,), texts."""
    return {"images": torch.stack([b["image"] for b in batch]),
            "targets": torch.cat([b["label"] for b in batch]),
            "target_lengths": torch.tensor([len(b["label"]) for b in batch], dtype=torch.long),
            "texts": [b["text"] for b in batch]}


# How far off the corners RSNet learns to read from, as fractions of the plate's width (twice that
# along its height: see augment.jitter_corners): half the crops a little off, half as far off as
# the shipped DSNet's corners on CCPD dev (per-corner error std 4.5 % of the width, 11 % of the
# height, measured with the GT homography). Reading DSNet's own crops, RSNet got 78 of 95 dev
# plates right against 92 from the annotated corners: the corner error was the larger loss.
DETECTOR_JITTER = (0.04, 0.08)


def detector_jitter(rng: np.random.Generator) -> float:
    return DETECTOR_JITTER[int(rng.integers(len(DETECTOR_JITTER)))]


# The real crops are 150-270 px wide and the CCPD plates ~200-300 px, while cameras (and small
# cut-outs like LPRNet's 94x24 ones) give plates 50-150 px wide: half the real items are first
# shrunk to a width drawn log-uniformly from LOW_RES_WIDTH, so the real fonts are seen blurred too.
LOW_RES_P = 0.5
LOW_RES_WIDTH = (50.0, 150.0)


# Many plate readers are fed a detector's upright box, not a rectified quad (LPRNet-style 94x24
# crops of CCPD are cut that way): a tilted plate then comes with background in two corners and
# its characters slanted. A share of the CCPD plates are read that way too.
BOX_CROP_P = 0.3


# Share of the 7-character real items whose province cell is replaced by another real plate's
# (donor province drawn uniformly), and share whose letters/digits get 1..GLYPH_SWAP_MAX cells of
# other real plates (any position of the same class: the second letter from a second letter,
# positions 3-7 from positions 3-7): see pipelines.synth.glyph_swap.
PROVINCE_SWAP_P = 0.3
GLYPH_SWAP_P = 0.3
GLYPH_SWAP_MAX = 3
_TAIL_CHARS = frozenset(LETTERS + DIGITS)
SWAP_SIZE = (288, 96)


def box_corners(corners: np.ndarray) -> np.ndarray:
    """The axis-aligned bounding box of a quad, as corners (TL, TR, BR, BL)."""
    c = np.asarray(corners, np.float32)
    (x0, y0), (x1, y1) = c.min(0), c.max(0)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)


def low_res(img: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The plate's neighbourhood shrunk so the plate is LOW_RES_WIDTH px wide (never enlarged)."""
    c = np.asarray(corners, np.float32)
    width = 0.5 * (np.linalg.norm(c[1] - c[0]) + np.linalg.norm(c[2] - c[3]))
    target = float(np.exp(rng.uniform(*np.log(LOW_RES_WIDTH))))
    if width <= target:
        return img, c
    h, w = img.shape[:2]
    (x0, y0), _, (x1, y1), _ = box_corners(c)
    mx, my = 0.3 * (x1 - x0) + 2, 0.6 * (y1 - y0) + 2
    x0, y0 = int(max(0, x0 - mx)), int(max(0, y0 - my))
    x1, y1 = int(min(w, x1 + mx + 1)), int(min(h, y1 + my + 1))
    patch, c = img[y0:y1, x0:x1], c - np.array([x0, y0], np.float32)
    s = target / width
    small = cv2.resize(patch, (max(1, round(patch.shape[1] * s)), max(1, round(patch.shape[0] * s))),
                       interpolation=cv2.INTER_AREA)
    return small, c * np.array([small.shape[1] / patch.shape[1], small.shape[0] / patch.shape[0]], np.float32)


def synth_crop(rng: np.random.Generator, size=geometry.PLATE_SIZE, augment: bool = True,
               corner_jitter: float | None = None, box_p: float = 0.0, smear_p: float = 0.0) -> tuple[np.ndarray, str]:
    """One synthetic recogniser input: a plate drawn at a random resolution (60-350 px wide, as
    cameras see them), pasted with a random perspective into a background patch, degraded, then
    rectified with geometry.warp_plate from slightly wrong corners (as the detector gives them).
    With probability box_p it is instead posed like a real CCPD plate (half: a quad of the CCPD
    priors, tilts up to ~30°; half: up to 10°), cut by its upright box and shrunk to LOW_RES_WIDTH:
    the LPRNet-style crops."""
    ppm = quantize_ppm(float(np.exp(rng.uniform(np.log(0.14), np.log(0.8)))))
    plate = random_plate(rng, px_per_mm=ppm)
    ph, pw = plate.image.shape[:2]
    if augment and rng.random() < 0.3:
        plate = type(plate)(stains(plate.image, rng, assets.stain_textures()), plate.alpha, plate.text,
                            plate.kind, plate.corners)
    boxed = augment and box_p > 0 and rng.random() < box_p     # (no draw at box_p 0: same samples)
    if boxed:
        if rng.random() < 0.5:      # the priors' quads lean to CCPD's rotate/tilt lists: half milder
            quad = load_priors().quad(rng) * pw * rng.uniform(0.9, 1.0)
        else:
            quad = random_quad(pw, ph, rng, max_rot_deg=10, max_persp=0.1, scale=(0.9, 1.0))
        extent = quad.max(0) - quad.min(0)
        cw, ch = int(extent[0] * rng.uniform(1.3, 1.8)), int(extent[1] * rng.uniform(1.6, 2.6))
        canvas = random_background(cw, ch, rng, probs=(0.3, 0.3, 0.4))
    else:
        cw, ch = int(pw * rng.uniform(1.3, 1.8)), int(ph * rng.uniform(2.0, 3.5))
        canvas = random_background(cw, ch, rng, probs=(0.3, 0.3, 0.4))
        quad = random_quad(pw, ph, rng, max_rot_deg=6 if augment else 0, max_persp=0.08 if augment else 0,
                           scale=(0.9, 1.0))
    quad = quad + np.array([cw / 2, ch / 2], np.float32)
    paste_plate(canvas, plate, quad, gain=rng.uniform(0.8, 1.1) if augment else 1.0)
    if augment:
        if smear_p > 0 and rng.random() < smear_p:      # (no draw at smear_p 0: same samples)
            canvas = plate_smear(canvas, quad, rng)
        canvas = photometric(canvas, rng, None, p_motion=0.2, p_blur=0.4)
        if boxed:
            quad = box_corners(jitter_corners(quad, rng, 0.02))
            canvas, quad = low_res(canvas, quad, rng)
        else:
            quad = jitter_corners(quad, rng, detector_jitter(rng) if corner_jitter is None else corner_jitter)
    return geometry.warp_plate(canvas, quad, size), plate.text


class CropDataset(_Seeded):
    """Recogniser inputs: `n_synth` synthetic crops plus the real dev crops (plates_cropped/dev,
    whole image = the plate) and the dev CCPD plates (rectified from their annotated corners),
    each real one `real_repeat` times. Real items may be shrunk (LOW_RES_P), cut by their upright
    box (BOX_CROP_P) or given other real plates' province (PROVINCE_SWAP_P) or letters and digits
    (GLYPH_SWAP_P); synthetic ones posed and cut LPRNet-style (`synth_box_p`). Item: {"image": 3×48×144, "label": LongTensor of class
    indices (charset.encode), "text", "source"}."""

    def __init__(self, n_synth: int = 100_000, seed: int = 0, real_crops: bool = True, ccpd_plates: bool = True,
                 real_repeat: int = 1, augment: bool = True, data_root: str | Path | None = None,
                 normalize: bool = True, corner_jitter: float | None = None, synth_box_p: float = 0.0,
                 hard_p: float = 0.0, smear_p: float = 0.0):
        super().__init__(seed)
        self.hard_p = float(hard_p)         # share of items given a street camera's worst (camera_hard)
        self.smear_p = float(smear_p)       # share given a plate-relative shutter smear (plate_smear)
        self.synth_box_p = float(synth_box_p)   # share of synthetic crops posed and cut LPRNet-style
        self.corner_jitter = corner_jitter  # synthetic crops: None = DETECTOR_JITTER's mixture
        self.n_synth, self.augment, self.normalize = int(n_synth), augment, normalize
        self.real: list[tuple[Path, np.ndarray | None, str, str]] = []
        self.rejected: list[tuple[Path, str]] = []          # real crops whose label is unusable
        if real_crops or ccpd_plates:
            root = Path(data_root) if data_root else _data_root(required=True)
            if real_crops:
                idx = load_real_crops(root, "dev")
                self.rejected = idx.rejected
                self.real += [(s.path, None, s.text, "crop") for s in idx.samples]
            if ccpd_plates:
                self.real += [(s.path, s.label.corners, s.label.text, "ccpd") for s in load_ccpd_split(root, "dev")]
        self.real_repeat = int(real_repeat)
        self._fits: dict[Path, tuple | None] = {}    # layout fits of real files (glyph swap)
        self._donor_groups: tuple[list, tuple] | None = None   # (real list, _donors())

    def __len__(self) -> int:
        return self.n_synth + len(self.real) * self.real_repeat

    def _donors(self) -> tuple[list[str], dict[str, list[int]], list[int]]:
        """The 7-character real items: their provinces (sorted), grouped by province, and all of
        them, for the `real` list in use (build_source filters it to the training part after
        construction)."""
        if self._donor_groups is None or self._donor_groups[0] is not self.real:
            groups: dict[str, list[int]] = {}
            for j, (_, _, text, _) in enumerate(self.real):
                if len(text) == 7:
                    groups.setdefault(text[0], []).append(j)
            pool = [d for group in groups.values() for d in group]
            self._donor_groups = (self.real, (sorted(groups), groups, pool))
        return self._donor_groups[1]

    def _rectified(self, j: int) -> tuple[np.ndarray, str, tuple | None]:
        """Item j rectified from its annotation, its text, and its layout fit when good enough
        to swap (fits cached: they depend on the file only)."""
        path, corners, text, _ = self.real[j]
        img = read_image(path)
        if corners is None:
            h, w = img.shape[:2]
            corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        plate = geometry.warp_plate(img, corners, SWAP_SIZE)
        if path not in self._fits:
            fit = fit_layout(plate)
            self._fits[path] = (fit, is_blue(plate)) if fit[2] >= MIN_FIT else None
        return plate, text, self._fits[path]

    def swapped(self, j: int, rng: np.random.Generator, province: bool = True, glyphs: int = 0,
                tries: int = 3) -> tuple[np.ndarray, str] | None:
        """Item j rectified with a donor's province cell (province drawn uniformly) and/or
        `glyphs` of its positions 2-7 taken from other real plates, and its new text; None when
        j is not a 7-character plate with a fitting layout or nothing could be swapped."""
        if len(self.real[j][2]) != 7:
            return None
        plate, text, fit = self._rectified(j)
        if fit is None:
            return None
        chars, changed = list(text), False
        if province:
            plate, changed = self._fill(plate, fit, chars, 0, rng, tries)
        for cell in rng.choice(np.arange(1, 7), size=min(glyphs, 6), replace=False):
            plate, done = self._fill(plate, fit, chars, int(cell), rng, tries)
            changed |= done
        return (plate, "".join(chars)) if changed else None

    def _draw_donor(self, cell: int, rng: np.random.Generator) -> tuple[int, int] | None:
        """(real item, its cell) to fill `cell` from: for the province a plate of a province
        drawn uniformly; else any plate's second letter, or any of its places 3-7 when that holds
        a letter or digit (None when it does not)."""
        provinces, groups, pool = self._donors()
        if cell == 0:
            group = groups[provinces[int(rng.integers(len(provinces)))]]
            return group[int(rng.integers(len(group)))], 0
        d = pool[int(rng.integers(len(pool)))]
        src = 1 if cell == 1 else int(rng.integers(2, 7))
        return (d, src) if self.real[d][2][src] in _TAIL_CHARS else None

    def _fill(self, plate: np.ndarray, fit: tuple, chars: list[str], cell: int, rng: np.random.Generator,
              tries: int) -> tuple[np.ndarray, bool]:
        """plate with a donor's character in `cell` (chars updated), and whether a donor of the
        same colour and a fitting layout was found in `tries` draws."""
        for _ in range(tries):
            pick = self._draw_donor(cell, rng)
            if pick is None:
                continue
            other, other_text, other_fit = self._rectified(pick[0])
            if other_fit is None or other_fit[1] != fit[1]:
                continue
            out = swap_cell(plate, other, fit[0], other_fit[0], cell, pick[1])
            if out is not None:
                chars[cell] = other_text[pick[1]]
                return out, True
        return plate, False

    def real_item(self, j: int, rng: np.random.Generator) -> tuple[np.ndarray, str, str]:
        path, corners, text, source = self.real[j]
        swapped = None
        if self.augment:
            province = rng.random() < PROVINCE_SWAP_P
            glyphs = int(rng.integers(1, GLYPH_SWAP_MAX + 1)) if rng.random() < GLYPH_SWAP_P else 0
            if province or glyphs:
                swapped = self.swapped(j, rng, province, glyphs)
        if swapped is not None:      # a rectified plate now: read as a tight cut-out
            (img, text), corners, source = swapped, None, "crop"
        else:
            img = read_image(path)
        if corners is None:
            h, w = img.shape[:2]
            corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        if self.augment:  # cut-out crops: only a little off; CCPD plates: as a detector would cut them
            corners = jitter_corners(corners, rng, 0.03 if source == "crop" else detector_jitter(rng))
            if source == "ccpd" and rng.random() < BOX_CROP_P:
                corners = box_corners(corners)
            if self.smear_p > 0 and rng.random() < self.smear_p:   # (no draw at 0: same samples)
                img = plate_smear(img, corners, rng)
            if rng.random() < LOW_RES_P:
                img, corners = low_res(img, corners, rng)
        crop = geometry.warp_plate(img, corners)
        if self.augment:
            crop = photometric(crop, rng, None, p_blur=0.2, p_motion=0.1, p_exposure=0.5, p_noise=0.3, p_jpeg=0.3)
        return crop, text, source

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = self.rng(index)
        if index < self.n_synth:
            crop, text = synth_crop(rng, augment=self.augment, corner_jitter=self.corner_jitter,
                                    box_p=self.synth_box_p, smear_p=self.smear_p)
            source = "synth"
        else:
            crop, text, source = self.real_item((index - self.n_synth) % len(self.real), rng)
        if self.augment and self.hard_p > 0 and rng.random() < self.hard_p:   # (no draw at 0: same samples)
            crop = camera_hard(crop, rng)
        return {"image": _to_tensor(crop, self.normalize), "label": torch.tensor(encode(text), dtype=torch.long),
                "text": text, "source": source}


class TwoRowCropDataset(_Seeded):
    """RSNet inputs of synthetic two-row plates (pipelines.synth.two_row.two_row_crop: composed
    into one row as the cascade composes them), `hard_p` of them given camera_hard too."""

    def __init__(self, n: int = 100_000, seed: int = 0, augment: bool = True, normalize: bool = True,
                 hard_p: float = 0.0, corner_jitter: float = 0.03):
        super().__init__(seed)
        self.n, self.augment, self.normalize = int(n), augment, normalize
        self.hard_p, self.corner_jitter = float(hard_p), float(corner_jitter)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        from pipelines.synth.two_row import two_row_crop

        if not 0 <= index < self.n:
            raise IndexError(index)
        rng = self.rng(index)
        hard = camera_hard if self.augment and rng.random() < self.hard_p else None
        crop, text = two_row_crop(rng, self.augment, self.corner_jitter, hard)
        return {"image": _to_tensor(crop, self.normalize), "label": torch.tensor(encode(text), dtype=torch.long),
                "text": text, "source": "two_row"}


def _bench(n: int = 40) -> None:
    """`python -m pipelines.datasets`: single-threaded generation speed of each data set."""
    import time
    worker_init_fn(0)

    def run(name, ds, idx):
        ds[idx[0]]                                    # load assets/caches first
        t = time.perf_counter()
        for i in idx:
            ds[i]
        dt = time.perf_counter() - t
        print(f"{name:36s} {len(idx) / dt:8.1f} samples/s  ({dt / len(idx) * 1000:.1f} ms)")

    run("SynthDetectionDataset (mix)", SynthDetectionDataset(10_000, seed=1), list(range(n)))
    for r in DEFAULT_RECIPES:
        run(f"  recipe {r}", SynthDetectionDataset(10_000, seed=1, recipes={r: 1.0}), list(range(n)))
    run("CcpdDataset dev (augment)", CcpdDataset("dev", augment=True), list(range(min(n, 95))))
    crops = CropDataset(10_000, seed=1)
    run("CropDataset synthetic", crops, list(range(n * 4)))
    rng = np.random.default_rng(0)
    run("CropDataset real (crops + CCPD)", crops, list(10_000 + rng.choice(len(crops) - 10_000, n * 4)))


if __name__ == "__main__":
    _bench()
