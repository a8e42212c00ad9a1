"""Real plates with other real plates' characters.

The real dev crops are 38 % 浙 and 13 % 皖 while CCPD (and the LPRNet-style crops cut from it) is
mostly 皖: RSNet learnt "a real-looking plate starts with 浙", and most of its wrong reads of the
real validation crops were a province read as 浙. Pasting the province cell of one rectified real
plate into another (donors drawn province-uniformly) keeps real glyphs and real degradation while
taking the province out of the plate's look. The letters and digits are swapped the same way
(a cell of one plate onto another cell of another): the real crops are ~1,300 plates, so each
position otherwise sees few real glyphs and the same neighbours every time. Cut-outs are not
tight to the plate, so each plate's character layout (GA 36, 7 characters) is fitted to its
glyph columns first.
"""
from __future__ import annotations

import cv2
import numpy as np

from pipelines.synth.plates import char_boxes_mm

(_PLATE_W_MM, _), _BOXES = char_boxes_mm(7)
_HALF_GAP_MM = 0.5 * (_BOXES[1][0] - _BOXES[0][2])      # half the standard gap between two glyphs
# Each character's cell (x0, x1) in mm: its glyph and half the gap either side; the province's
# reaches the plate edge (no glyph left of it), the second letter's stops short of the dot.
CELLS_MM = [(3.0 if i == 0 else x0 - _HALF_GAP_MM, x1 + _HALF_GAP_MM) for i, (x0, _, x1, _) in enumerate(_BOXES)]
MIN_FIT = 0.5                                          # correlation below which a fit is refused


def glyph_columns(plate: np.ndarray) -> np.ndarray:
    """Share of glyph pixels per column (Otsu; glyphs are the bright side on blue plates)."""
    g = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    h = g.shape[0]
    band = g[int(0.2 * h):int(0.8 * h)]
    _, m = cv2.threshold(band, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if not is_blue(plate):
        m = 1 - m
    return m.mean(0).astype(np.float32)


def fit_layout(plate: np.ndarray) -> tuple[float, float, float]:
    """(offset px, px per mm, correlation) of the 7-character layout best matching the glyph columns."""
    prof = glyph_columns(plate)
    w = prof.size
    p = prof - prof.mean()
    pn = np.linalg.norm(p) + 1e-6
    offsets = np.arange(-0.12 * w, 0.12 * w, 1.0, dtype=np.float32)
    x, o = np.arange(w, dtype=np.float32)[None], offsets[:, None]
    best = (0.0, w / _PLATE_W_MM, -1.0)
    for s in np.linspace(0.85, 1.2, 15) * w / _PLATE_W_MM:
        t = sum(((x >= o + s * x0) & (x < o + s * x1)).astype(np.float32) for x0, _, x1, _ in _BOXES)
        t -= t.mean(1, keepdims=True)
        r = (t @ p) / (np.linalg.norm(t, axis=1) * pn + 1e-6)
        k = int(np.argmax(r))
        if r[k] > best[2]:
            best = (float(offsets[k]), float(s), float(r[k]))
    return best


def is_blue(plate: np.ndarray) -> bool:
    """Blue plates (white glyphs) against yellow/green/white ones (dark glyphs)."""
    b, _, r = plate.reshape(-1, 3).astype(np.float32).mean(0)
    return bool(b > r)


def swap_cell(recipient: np.ndarray, donor: np.ndarray, fit_r: tuple | None = None,
              fit_d: tuple | None = None, cell: int = 0, donor_cell: int | None = None) -> np.ndarray | None:
    """The recipient plate (rectified) with the donor's character `donor_cell` (default: the same
    position) mapped onto its own cell `cell`, colour statistics matched and the seams feathered;
    None when either layout does not fit. fit_r / fit_d: their fit_layout results when known."""
    a_r, s_r, q_r = fit_r or fit_layout(recipient)
    a_d, s_d, q_d = fit_d or fit_layout(donor)
    if min(q_r, q_d) < MIN_FIT:
        return None
    donor_cell = cell if donor_cell is None else donor_cell
    h, w = recipient.shape[:2]
    x0 = max(0, int(round(a_r + s_r * CELLS_MM[cell][0])))
    x1 = min(w, int(round(a_r + s_r * CELLS_MM[cell][1])))
    if x1 - x0 < 4:
        return None
    # donor x = a_d + s_d (c_d + (x - a_r) / s_r - c_r), c = the cells' left edges in mm; rows
    # are already aligned by the rectification
    k = s_d / s_r
    shift = a_d - k * a_r + s_d * (CELLS_MM[donor_cell][0] - CELLS_MM[cell][0])
    m = np.float32([[k, 0, shift], [0, donor.shape[0] / h, 0]])
    src = cv2.warpAffine(donor, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REPLICATE)[:, x0:x1].astype(np.float32)
    out = recipient.astype(np.float32)
    ref = out[:, x0:x1]
    m_c, s_c = src.reshape(-1, 3).mean(0), src.reshape(-1, 3).std(0) + 1e-3
    m_r, s_rf = ref.reshape(-1, 3).mean(0), ref.reshape(-1, 3).std(0) + 1e-3
    src = (src - m_c) / s_c * s_rf + m_r
    alpha = np.ones(x1 - x0, np.float32)
    f = min(3, (x1 - x0) // 2)
    if f:
        ramp = np.linspace(0, 1, f + 2, dtype=np.float32)[1:-1]
        if x0 > 0:
            alpha[:f] = ramp
        if x1 < w:
            alpha[-f:] = ramp[::-1]
    out[:, x0:x1] = alpha[None, :, None] * src + (1 - alpha[None, :, None]) * ref
    return np.clip(out, 0, 255).astype(np.uint8)
