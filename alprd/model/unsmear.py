"""A plate smeared by motion is read again with the smear undone, at the length that reads best.

A car crossing the view during a 1/100 s exposure drags every glyph sideways by a few percent of
the plate's width: on `ccpd_mblur_dev` (a 21-px horizontal smear, 7-17 % of the plates' widths)
the characters run into their neighbours and RSNet reads 32 of 95, although DSNet still boxes 94.
The smear of a car moving at a steady speed is a horizontal box kernel, so it can be undone: a
doubtful read (alprd.model.rewarp.doubtful) is read again from the frame region around its quad
deconvolved row by row (a Wiener filter against a box of each of LENGTHS × the plate's width, then
the best one's neighbours FINER either side), the best length's read is read again from its wider
warps while still doubtful, and it replaces the plate's read when it fits a plate layout, is more
confident (mean character confidence, as the rereads) and its weakest character is at least ADOPT. The smear's
length is not known, so every length is tried. Only a plate that looks smeared (its rectified
horizontal gradients weaker than its vertical ones: gradient_ratio under SMEARED) is deconvolved,
which spares the doubtful sharp plates (distant, dark, glare, junk) the cost, and keeps a sharp date
stamp from turning into a confident plate.

Chosen on dev (the served cascade's quads, all candidates: `ccpd_*_dev` stress sets, the street and
two-row scenes, and CCPD dev smeared by 11 and 31 px instead of 21 to check that the lengths
generalise; `docs/training.md`): the 21-px set went from 32 to 83 of 95 reported right, 11 px
80 → 91, 31 px 8 → 70, and no sharp set lost a read (CCPD dev, ½, ⅓, dark, glare, street,
two-row). Lengths every 4 % lost 20 of the 21-px set's plates, every 2 % without the finer step 5,
a noise ratio of 0.03 instead of 0.01 another 9. Without SMEARED and ADOPT the date stamp of a
street scene (gradient ratio 1.66) became a reported plate; any SMEARED from 0.85 to 1.2 kept
every gain, 1.0 deconvolves 77 % of the doubtful plates of these sets.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from alprd.model import geometry, rewarp
from alprd.model.geometry import quad_width as width
from alprd.model.plate_format import is_valid_plate

LENGTHS: tuple[float, ...] = (0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.22)   # × plate width
FINER = 0.01              # the best length's neighbours at ± this are tried next
NOISE = 0.01              # Wiener's noise-to-signal power ratio: the deconvolution's damping
ADOPT = 0.7               # an unsmeared read's weakest character must be at least this sure
SMEARED = 1.0             # a plate whose horizontal / vertical gradient ratio is under this looks smeared
MIN_WIDTH = 64.0          # frame px: a narrower plate is not deconvolved (see looks_smeared)
WORK_WIDTH = 160.0        # a wider plate's region is shrunk to this plate width first (see cut)
MARGIN_W, MARGIN_H = 0.5, 0.3   # region kept around the quad's box, × its width / height


def region(quad: np.ndarray, shape: tuple[int, ...], longest: float) -> tuple[int, int, int, int]:
    """The frame box (x0, y0, x1, y1) to deconvolve for a quad: its bounding box grown by
    MARGIN_W/MARGIN_H and the longest smear on each side (a smear drags in what lies beside the
    plate, so that must be in the region too), clipped to the frame."""
    q = np.asarray(quad, np.float32)
    lo, hi = q.min(0), q.max(0)
    w, h = hi - lo
    dx, dy = MARGIN_W * w + longest, MARGIN_H * h + 2
    x0, y0 = int(max(0, np.floor(lo[0] - dx))), int(max(0, np.floor(lo[1] - dy)))
    x1, y1 = int(min(shape[1], np.ceil(hi[0] + dx))), int(min(shape[0], np.ceil(hi[1] + dy)))
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def box_response(n: int, length: float) -> np.ndarray:
    """The DFT (n bins, complex) of a centred horizontal box of `length` px (a fractional length
    weights its last tap), normalised to a sum of one."""
    whole = int(np.floor(length))
    k = np.zeros(n, np.float64)
    k[:whole] = 1.0
    if length > whole and whole < n:
        k[whole] = length - whole
    k /= k.sum()
    return np.fft.fft(np.roll(k, -(whole // 2)))


def unsmear_rows(patch: np.ndarray, lengths: Sequence[float], noise: float = NOISE) -> list[np.ndarray]:
    """H×W(×C) uint8 → one uint8 image per length, each row Wiener-deconvolved against a
    horizontal box of that length. Rows are mirrored past both ends first (so the borders do not
    wrap around), to a length the DFT is fast at (a prime length costs ten times more); OpenCV's
    row-wise float32 DFT is 5-10 times faster here than numpy's float64 one."""
    import cv2

    x = np.asarray(patch, np.float32)
    h, w = x.shape[:2]
    pad = int(np.ceil(2 * max(lengths))) if len(lengths) else 0
    n = cv2.getOptimalDFTSize(w + 2 * pad)
    left = (n - w) // 2
    x = cv2.copyMakeBorder(x, 0, 0, left, n - w - left, cv2.BORDER_REFLECT_101)
    rows = np.ascontiguousarray(x.reshape(h, n, -1).transpose(0, 2, 1).reshape(-1, n))   # (H·C)×n
    spectrum = cv2.dft(rows, flags=cv2.DFT_ROWS | cv2.DFT_COMPLEX_OUTPUT)
    out = []
    for length in lengths:
        r = box_response(n, max(float(length), 1.0))
        g = np.conj(r) / (np.abs(r) ** 2 + noise)
        g = np.ascontiguousarray(np.broadcast_to(np.stack((g.real, g.imag), -1).astype(np.float32),
                                                 spectrum.shape))
        y = cv2.idft(cv2.mulSpectrums(spectrum, g, cv2.DFT_ROWS),
                     flags=cv2.DFT_ROWS | cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
        y = y.reshape(h, -1, n).transpose(0, 2, 1)[:, left:left + w]
        out.append(np.clip(np.rint(y), 0, 255).astype(np.uint8).reshape(patch.shape))
    return out


def gradient_ratio(plate: np.ndarray) -> float:
    """Mean |d/dx| over mean |d/dy| of a rectified plate's luminance. A sharp plate's vertical
    strokes make it about 0.9-2 (CCPD dev: 5th percentile 0.88); a horizontal smear flattens d/dx
    (the 21-px stress set: 0.26-0.65), d/dy it leaves alone."""
    g = np.asarray(plate, np.float32)
    if g.ndim == 3:
        g = g @ np.array([0.114, 0.587, 0.299], np.float32)
    dy = float(np.abs(np.diff(g, axis=0)).mean()) if g.shape[0] > 1 else 0.0
    dx = float(np.abs(np.diff(g, axis=1)).mean()) if g.shape[1] > 1 else 0.0
    return dx / max(dy, 1e-3)


def looks_smeared(frame: np.ndarray, quad: np.ndarray) -> bool:
    """At least MIN_WIDTH px wide and smeared-looking. A plate narrower than that is a distant car,
    whose smear is a pixel or two that the reader was trained to tolerate; enlarged to RSNet's
    144 px it is soft both ways, so its gradient ratio says nothing (the distant-cars benchmark's
    25-45 px plates mostly look smeared and were deconvolved in every frame, for nothing)."""
    return width(quad) >= MIN_WIDTH and gradient_ratio(geometry.warp_plate(frame, quad)) < SMEARED


def cut(frame: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The region of a quad (room for the longest length tried) → (its pixels, the quad in them),
    shrunk so that the plate is at most WORK_WIDTH px wide: RSNet reads 144 px,
    so deconvolving a 280-px plate at full size costs four times as much for pixels it never sees."""
    import cv2

    x0, y0, x1, y1 = region(quad, frame.shape, (max(LENGTHS) + FINER) * width(quad))
    patch, moved = frame[y0:y1, x0:x1], np.asarray(quad, np.float32) - np.array([x0, y0], np.float32)
    f = WORK_WIDTH / max(width(quad), 1.0)
    if f >= 1.0:
        return patch, moved
    size = (max(1, round(patch.shape[1] * f)), max(1, round(patch.shape[0] * f)))
    small = cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
    return small, moved * np.array([size[0] / patch.shape[1], size[1] / patch.shape[0]], np.float32)


Read = rewarp.Read
Reader = Callable[[list[tuple[np.ndarray, np.ndarray]]], list[Read]]   # [(image, quad)] → reads


def reread(frames: Sequence[np.ndarray], quads: Sequence[np.ndarray], reads: Sequence[Read], read: Reader,
           margins: Sequence[tuple[float, float]] = rewarp.MARGINS) -> list[Read]:
    """Each plate (its frame, quad and current read) → its read, replaced by the best unsmeared
    read when the plate looks smeared, and that read fits a plate layout, is more confident and
    its weakest character at least ADOPT (a confident read of no layout must not replace a valid
    one: it would not be reported). `read` warps and reads (image, quad) pairs in one batch;
    `margins` are the wider warps tried on the best length's region while its read is still
    doubtful (empty: none)."""
    out = list(reads)
    smeared = [k for k, (f, q) in enumerate(zip(frames, quads)) if looks_smeared(f, q)]
    if not smeared:
        return out
    frames, quads = [frames[k] for k in smeared], [quads[k] for k in smeared]
    cuts = [cut(f, q) for f, q in zip(frames, quads)]
    widths = [width(q) for _, q in cuts]

    def tries(fracs_per_plate):
        images = [unsmear_rows(patch, [f * w for f in fracs], NOISE)
                  for (patch, _), w, fracs in zip(cuts, widths, fracs_per_plate)]
        got = iter(read([(img, q) for imgs, (_, q) in zip(images, cuts) for img in imgs]))
        return [[(img, next(got)) for img in imgs] for imgs in images]

    def best(pairs, fracs):
        j = max(range(len(pairs)), key=lambda j: rewarp.mean_confidence(pairs[j][1]))   # first on ties
        return fracs[j], pairs[j]

    coarse = [best(p, LENGTHS) for p in tries([LENGTHS] * len(cuts))]
    near = [tuple(f + d for d in (-FINER, FINER)) for f, _ in coarse]
    chosen = [best([pair] + pairs, (f,) + fracs)[1]
              for (f, pair), pairs, fracs in zip(coarse, tries(near), near)]
    wider = [k for k, (_, r) in enumerate(chosen) if margins and rewarp.doubtful([r])]
    if wider:
        grown = read([(chosen[k][0], g) for k in wider for g in rewarp.grow(cuts[k][1], margins)])
        m = len(margins)
        for n, k in enumerate(wider):
            chosen[k] = (chosen[k][0], rewarp.most_confident([chosen[k][1]] + grown[n * m:(n + 1) * m]))
    for k, (_, r) in zip(smeared, chosen):
        if is_valid_plate(r[0]) and min(r[1]) >= ADOPT and rewarp.mean_confidence(r) > rewarp.mean_confidence(out[k]):
            out[k] = r
    return out
