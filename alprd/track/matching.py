"""Box overlap and detection-to-track assignment.

Greedy by IoU rather than Hungarian: plates in one camera rarely overlap, so greedy gives the
same answer in practice, needs no scipy, and is easy to reason about. Boxes are (x1, y1, x2, y2).
"""
from __future__ import annotations

import numpy as np


def as_boxes(boxes) -> np.ndarray:
    """Any sequence of (x1, y1, x2, y2) as an (N, 4) float array (N may be 0)."""
    arr = np.asarray(boxes, dtype=np.float64)
    return arr.reshape(-1, 4)


def iou_matrix(a, b) -> np.ndarray:
    """IoU of every box in a (N×4) with every box in b (M×4), as an N×M array; 0 where no overlap."""
    a, b = as_boxes(a), as_boxes(b)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def greedy_match(scores: np.ndarray, threshold: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Pair rows with columns, highest score first; a pair needs score ≥ threshold and > 0.

    Returns (matches as (row, col), unmatched rows, unmatched cols), each in ascending order of
    row/col except matches, which come best first. Ties break by (row, col) so the result is
    deterministic.
    """
    scores = np.asarray(scores, dtype=np.float64)
    n_rows, n_cols = scores.shape if scores.ndim == 2 else (0, 0)
    rows, cols = np.nonzero((scores >= threshold) & (scores > 0))
    order = np.lexsort((cols, rows, -scores[rows, cols]))
    used_r: set[int] = set()
    used_c: set[int] = set()
    matches: list[tuple[int, int]] = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_r and c not in used_c:
            used_r.add(r)
            used_c.add(c)
            matches.append((r, c))
    return (
        matches,
        [r for r in range(n_rows) if r not in used_r],
        [c for c in range(n_cols) if c not in used_c],
    )
