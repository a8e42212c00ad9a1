"""A doubtful read is read again from wider warps of its plate, and the most confident read wins.

DSNet's corners on images it never trained on are off by about 5 % of the plate's width and 11 %
of its height (RMS, CCPD dev's validation slice): a corner placed inside the plate cuts its first
or last character, which RSNet then misreads or drops. RSNet reads a plate with some margin around
it about as well as a tight one, and its character confidences drop when a glyph is cut, so a read
whose least confident character is below RETRY_BELOW is read again from its quad grown by each of
MARGINS, and the read with the highest mean character confidence is kept.

Chosen on CCPD dev (blue + green, 95 plates) with the shipped weights: from the detector's own
corners 94 → 95 right; from the annotated corners jittered like a detector's (σ 5 % W, 11 % H per
corner, 10 draws each: `python -m pipelines.evaluate --sets ccpd_jitter_devval,ccpd_jitter_dev`,
with and without --no-reread) 75.5 → 90.0 % on the validation slice and 84.5 → 92.1 % on all dev.
At 0.97, 16 % of the detector's plates are read again and no read above it was wrong.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# (each side's growth as a fraction of the plate's width, and of its height)
MARGINS: tuple[tuple[float, float], ...] = ((0.04, 0.0), (0.07, 0.0), (0.0, 0.08), (0.04, 0.08), (0.07, 0.15))
RETRY_BELOW = 0.97

Read = tuple[str, tuple[float, ...]]


def grow(corners: np.ndarray, margins: Sequence[tuple[float, float]] = MARGINS) -> np.ndarray:
    """Quad (TL, TR, BR, BL) → M×4×2 quads, each side moved out along the plate's own edges by
    (dx × its edge's length, dy × its side's length); perspective is kept."""
    c = np.asarray(corners, np.float32)
    tl, tr, br, bl = c
    along = np.stack([tr - tl, tr - tl, br - bl, br - bl]) * np.array([[-1], [1], [1], [-1]], np.float32)
    across = np.stack([bl - tl, br - tr, br - tr, bl - tl]) * np.array([[-1], [-1], [1], [1]], np.float32)
    m = np.asarray(margins, np.float32).reshape(-1, 1, 2)
    return c[None] + m[..., :1] * along[None] + m[..., 1:] * across[None]


def doubtful(reads: Sequence[Read], below: float = RETRY_BELOW) -> list[int]:
    """Indices of the reads worth another look: empty, or a character under `below`."""
    return [k for k, (text, confs) in enumerate(reads) if not text or min(confs) < below]


def mean_confidence(read: Read) -> float:
    return float(np.mean(read[1])) if read[0] else 0.0


def most_confident(reads: Sequence[Read]) -> Read:
    """The first read of the highest mean character confidence (the tight warp's on ties)."""
    return max(reads, key=mean_confidence)
