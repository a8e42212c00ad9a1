"""Reading two-row plates (trucks' and trailers' yellow rear plates, motorcycles) with RSNet.

RSNet reads one row of characters from a 144×48 image. A two-row plate (GA 36: 440×220 mm for
large vehicles and trailers, 220×140 mm for motorcycles) holds the province and the letter in a
short top row and the other five characters in a tall bottom row. `compose` turns the rectified
plate into the single-row image RSNet reads: the plate is cut at the gap between its rows (the
row of least horizontal-gradient energy in the band where the gap lies on both layouts), the top
row is squeezed into the first 2/7 of the width and the bottom row into the rest, both 48 px
high. The text then comes out in order (粤B + BC71挂 → 粤BBC71挂) from one RSNet call, so the
CTC decode, the plate-layout repair and the rereads work unchanged. RSNet learns these composed
images from synthetic two-row plates (pipelines.synth.two_row builds them with this function).

Which quads are tried: a single-row plate is 3.1 (blue) to 3.4 (green) times as wide as high, a
two-row one 1.6 to 2; a quad below MAX_ASPECT is read both ways and the read that fits a plate
layout with the higher mean confidence kept (a single-row plate seen from the side is narrow
too, so the aspect alone does not decide).
"""
from __future__ import annotations

import cv2
import numpy as np

from alprd.model import geometry

WARP_SIZE = (288, 144)        # width × height a two-row plate is rectified to before composing
MAX_ASPECT = 2.6              # quads narrower than this (width / height) are also read as two-row
GAP_BAND = (0.22, 0.5)        # where the gap between the rows lies, as fractions of the height
TOP_SHARE = 44                # px of the 144-px composed image given to the top row (2 of 7 chars)
TOP_CROP = (0.08, 0.92)       # horizontal extent of the top row (its two characters are centred)


def aspect(quad: np.ndarray) -> float:
    """Width over height of a quad (TL, TR, BR, BL): the mean of opposite edges."""
    q = np.asarray(quad, np.float32).reshape(4, 2)
    w = 0.5 * (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3]))
    h = 0.5 * (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1]))
    return float(w / max(h, 1e-6))


def is_candidate(quad: np.ndarray) -> bool:
    return aspect(quad) < MAX_ASPECT


def row_gap(plate: np.ndarray) -> int:
    """The y of the gap between the rows of a rectified two-row plate: characters make strong
    horizontal gradients, the gap (and the dot, which is narrow) hardly any."""
    grey = plate if plate.ndim == 2 else cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    g = np.abs(np.diff(grey.astype(np.float32), axis=1)).sum(1)
    h = len(g)
    k = max(1, h // 40)
    g = np.convolve(g, np.ones(2 * k + 1, np.float32) / (2 * k + 1), mode="same")
    lo, hi = int(GAP_BAND[0] * h), int(GAP_BAND[1] * h)
    return lo + int(np.argmin(g[lo:hi]))


def compose(plate: np.ndarray, size: tuple[int, int] = geometry.PLATE_SIZE) -> np.ndarray:
    """A rectified two-row plate (any size, uint8 BGR) → the size (w×h) single-row image RSNet reads."""
    h, w = plate.shape[:2]
    y = min(max(row_gap(plate), 1), h - 1)
    top = plate[:y, int(TOP_CROP[0] * w):int(np.ceil(TOP_CROP[1] * w))]
    bottom = plate[y:]
    ow, oh = size
    split = round(TOP_SHARE * ow / geometry.PLATE_SIZE[0])
    out = np.empty((oh, ow) + plate.shape[2:], np.uint8)
    out[:, :split] = cv2.resize(top, (split, oh), interpolation=cv2.INTER_AREA)
    out[:, split:] = cv2.resize(bottom, (ow - split, oh), interpolation=cv2.INTER_AREA)
    return out


def warp(frame: np.ndarray, quad: np.ndarray, size: tuple[int, int] = geometry.PLATE_SIZE) -> np.ndarray:
    """The composed RSNet input of the two-row plate at `quad` (outer corners) in `frame`."""
    return compose(geometry.warp_plate(frame, quad, WARP_SIZE), size)


def pick(single: tuple[str, tuple[float, ...]], double: tuple[str, tuple[float, ...]],
         valid=None) -> tuple[tuple[str, tuple[float, ...]], bool]:
    """The better of a quad's single-row and two-row reads, and whether it is the two-row one:
    a read that fits a plate layout beats one that does not; between equals, the higher mean
    confidence wins (ties keep the single-row read)."""
    if valid is None:
        from alprd.model.plate_format import is_valid_plate as valid

    def key(read):
        text, conf = read
        return (bool(text) and valid(text), float(np.mean(conf)) if len(conf) else 0.0)
    return (double, True) if key(double) > key(single) else (single, False)


Read = tuple[str, tuple[float, ...]]


def reread(frames, quads, owners, reads: list[Read], read_u8) -> tuple[list[Read], list[bool]]:
    """The cascade's two-row pass: each quad narrow enough to be a two-row plate (is_candidate)
    is composed (`warp`) out of its frame and read by `read_u8` (N×48×144×3 uint8 → reads) in
    one batch; `pick` keeps the better read. Returns the reads and which are two-row reads.

    frames: the frames; quads: N×4×2 in frame pixels; owners: the frame index of each quad."""
    reads = list(reads)
    two = [False] * len(reads)
    idx = [k for k, q in enumerate(quads) if is_candidate(q)]
    if not idx:
        return reads, two
    crops = np.stack([warp(frames[owners[k]], quads[k]) for k in idx])
    for k, r in zip(idx, read_u8(crops)):
        reads[k], two[k] = pick(reads[k], r)
    return reads, two
