"""Per-cell detection targets from ground-truth quads (SLPNet's effective regions).

For every GT quad (4×2 corners TL, TR, BR, BL in the detector's input view, e.g. the 512 letterbox):

- positive cells: cells whose centre lies inside the quad shrunk towards its centre by `s_pos`
  (the effective region); the cell holding the quad's centre is always positive, so a plate
  smaller than a cell still trains one cell;
- ignore cells: centre inside the quad shrunk (or grown) by `s_ign` > `s_pos` but not positive:
  border cells see part of the plate, so neither "plate" nor "background" is a fair label;
- negatives: everything else.

Shrink factors depend on the plate's size class (small / medium / large by √area in view pixels):
a small plate keeps (or grows) its whole region so it gets cells at all, a large plate keeps
only its core so that its positives see the whole plate inside their receptive field.

A cell inside two plates' effective regions goes to the smaller plate (it is the harder one and
its region is the smaller). Each positive cell carries a weight 1/(positives of its plate) so
every plate counts the same in the localisation loss, whatever its size.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from alprd.model import geometry
from alprd.model.dsnet import STRIDE


@dataclass(frozen=True)
class SizeClass:
    max_side: float     # upper bound on √(quad area) in view pixels (inclusive)
    s_pos: float        # shrink factor of the positive (effective) region
    s_ign: float        # shrink factor of the outer border of the ignore ring (≥ s_pos)


@dataclass(frozen=True)
class TargetConfig:
    classes: tuple[SizeClass, ...] = field(default_factory=lambda: (
        SizeClass(28.0, 1.0, 1.8),            # small: ≲ 50×16 px in the view: the whole plate
        SizeClass(80.0, 0.6, 1.2),            # medium
        SizeClass(float("inf"), 0.4, 1.0),    # large: the core only
    ))
    stride: int = STRIDE
    z: float = geometry.Z_DEFAULT

    @classmethod
    def from_dict(cls, d: dict | None) -> "TargetConfig":
        if not d:
            return cls()
        classes = tuple(SizeClass(float(c["max_side"]), float(c["s_pos"]), float(c["s_ign"]))
                        for c in d.get("classes", []))
        kw = {k: v for k, v in d.items() if k != "classes"}
        return cls(classes=classes or cls().classes, **kw)

    def size_class(self, side: float) -> int:
        for i, c in enumerate(self.classes):
            if side <= c.max_side:
                return i
        return len(self.classes) - 1


def quad_area(q: np.ndarray) -> float:
    x, y = q[:, 0], q[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def shrink(q: np.ndarray, s: float) -> np.ndarray:
    c = q.mean(axis=0)
    return c + s * (q - c)


def points_in_quad(pts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """…×2 points → bool mask: inside (or on the border of) the convex quad q (either winding)."""
    inside_pos = np.ones(pts.shape[:-1], bool)
    inside_neg = np.ones(pts.shape[:-1], bool)
    for i in range(4):
        a, b = q[i], q[(i + 1) % 4]
        cross = (b[0] - a[0]) * (pts[..., 1] - a[1]) - (b[1] - a[1]) * (pts[..., 0] - a[0])
        inside_pos &= cross >= 0
        inside_neg &= cross <= 0
    return inside_pos | inside_neg


def build_targets(quads, h: int, w: int, cfg: TargetConfig | None = None) -> dict[str, np.ndarray]:
    """GT quads (K×4×2, view pixels) for an h×w output grid → dense targets:

    mask     h×w int8: 1 positive, 0 negative, -1 ignore
    corners  h×w×4×2 float32: the assigned plate's GT corners (zeros off the positives)
    offsets  h×w×8 float32: cube-root offset targets of those corners (geometry.encode_offsets)
    weight   h×w float32: 1/(number of positives of the assigned plate) on positives, else 0
    plate    h×w int16: index of the assigned quad, -1 elsewhere
    """
    cfg = cfg or TargetConfig()
    quads = np.asarray(quads, np.float32).reshape(-1, 4, 2)
    centres = geometry.cell_centres(h, w, cfg.stride)
    mask = np.zeros((h, w), np.int8)
    ignore = np.zeros((h, w), bool)
    plate = np.full((h, w), -1, np.int16)
    owner_area = np.full((h, w), np.inf, np.float32)
    for k, q in enumerate(quads):
        area = quad_area(q)
        if not np.isfinite(area) or area <= 0:
            continue
        c = cfg.classes[cfg.size_class(float(np.sqrt(area)))]
        pos = points_in_quad(centres, shrink(q, c.s_pos))
        cx, cy = q.mean(axis=0)
        ci, cj = int(cy // cfg.stride), int(cx // cfg.stride)
        if 0 <= ci < h and 0 <= cj < w:
            pos[ci, cj] = True
        ignore |= points_in_quad(centres, shrink(q, max(c.s_ign, c.s_pos)))
        take = pos & (area < owner_area)
        plate[take] = k
        owner_area[take] = area
    positive = plate >= 0
    mask[ignore] = -1
    mask[positive] = 1
    corners = np.zeros((h, w, 4, 2), np.float32)
    offsets = np.zeros((h, w, 8), np.float32)
    weight = np.zeros((h, w), np.float32)
    if positive.any():
        ys, xs = np.nonzero(positive)
        idx = plate[ys, xs]
        corners[ys, xs] = quads[idx]
        offsets[ys, xs] = geometry.encode_offsets(quads[idx], centres[ys, xs], cfg.z)
        counts = np.bincount(idx, minlength=len(quads)).astype(np.float32)
        weight[ys, xs] = 1.0 / counts[idx]
    return {"mask": mask, "corners": corners, "offsets": offsets, "weight": weight, "plate": plate}
