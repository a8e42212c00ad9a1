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

Which quads are tried: two-row plates are yellow (trucks, trailers, motorcycles), and a quad of
one is at most MAX_ASPECT times as wide as high: 2 for its outer corners (1.6 for a motorcycle),
2.3-3.0 for the box around its tall bottom row, which is what a detector trained on single-row
plates finds on them (the shipped DSNet did so on 9 of the 10 two-row dev scenes it found; up to
3.75 for a tight box). A yellow quad under MAX_ASPECT is read as a two-row plate from itself and
from itself grown upwards by GROW_UP (the missing top row), and the read that fits a plate layout
with the highest mean confidence is kept, the single-row read included. GROW_UP was chosen on the
10 yellow two-row dev scenes (real_scenes_cn, the detector's best quad, reads of each growth
compared: 0.4 read best, 0.9 cut into the car body); the yellow single-row dev crops (185, set in
a frame and read from their box) read the same with and without this pass (178/185).
"""
from __future__ import annotations

import cv2
import numpy as np

from alprd.model import geometry

WARP_SIZE = (288, 144)        # width × height a two-row plate is rectified to before composing
MAX_ASPECT = 4.0              # yellow quads narrower than this (width / height) are also read as two-row
GROW_UP = (0.0, 0.4, 0.6)     # the quad's top edge moved up by these fractions of its height
GAP_BAND = (0.22, 0.5)        # where the gap between the rows lies, as fractions of the height
TOP_SHARE = 44                # px of the 144-px composed image given to the top row (2 of 7 chars)
TOP_CROP = (0.08, 0.92)       # horizontal extent of the top row (its two characters are centred)


def aspect(quad: np.ndarray) -> float:
    """Width over height of a quad (TL, TR, BR, BL): the mean of opposite edges."""
    q = np.asarray(quad, np.float32).reshape(4, 2)
    w = 0.5 * (np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3]))
    h = 0.5 * (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1]))
    return float(w / max(h, 1e-6))


def is_yellow(plate: np.ndarray) -> bool:
    """Whether a rectified plate (BGR) is mostly yellow paint: the median hue and saturation of
    its pixels (OpenCV hue 0-180: yellow is about 20-35)."""
    hsv = cv2.cvtColor(plate, cv2.COLOR_BGR2HSV).reshape(-1, 3)
    h, s, v = np.median(hsv, axis=0)
    return bool(12 <= h <= 40 and s >= 60 and v >= 50)


def is_candidate(quad: np.ndarray, frame: np.ndarray | None = None) -> bool:
    """A quad narrow enough to be a two-row plate (and yellow, when its frame is given)."""
    if aspect(quad) >= MAX_ASPECT:
        return False
    return frame is None or is_yellow(geometry.warp_plate(frame, quad, (48, 16)))


def grow_up(quad: np.ndarray, frac: float) -> np.ndarray:
    """The quad with its top edge moved up (along its own sides) by frac × its height."""
    q = np.asarray(quad, np.float32).reshape(4, 2).copy()
    q[0] -= frac * (q[3] - q[0])
    q[1] -= frac * (q[2] - q[1])
    return q


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


def reread(frames, quads, owners, reads: list[Read], read_u8, grow: tuple[float, ...] = GROW_UP,
           colour: bool = True) -> tuple[list[Read], list[bool], list[np.ndarray]]:
    """The cascade's two-row pass: each quad that may be a two-row plate (is_candidate; yellow
    unless colour=False) is composed (`warp`) out of its frame from itself grown up by each of
    `grow`, all read by `read_u8` (N×48×144×3 uint8 → reads) in one batch, and `pick` keeps the
    best read. Returns the reads, which are two-row reads, and the quads they were read from
    (a two-row read's grown quad: the whole plate).

    frames: the frames; quads: N×4×2 in frame pixels; owners: the frame index of each quad."""
    reads = list(reads)
    quads = [np.asarray(q, np.float32) for q in quads]
    two = [False] * len(reads)
    idx = [k for k, q in enumerate(quads) if is_candidate(q, frames[owners[k]] if colour else None)]
    if not idx:
        return reads, two, quads
    tries = [(k, grow_up(quads[k], f)) for k in idx for f in grow]
    got = read_u8(np.stack([warp(frames[owners[k]], q) for k, q in tries]))
    for n, k in enumerate(idx):
        for m in range(len(grow)):
            (reads[k], better) = pick(reads[k], got[n * len(grow) + m])
            if better:
                two[k], quads[k] = True, tries[n * len(grow) + m][1]
    return reads, two, quads
