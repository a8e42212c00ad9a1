"""CCPD labels from file names.

A CCPD name is seven '-'-separated fields:

    area - tiltH_tiltV - x1&y1_x2&y2 - RB_LB_LT_RT (each x&y) - char indices - brightness - blur

e.g. ``025-95_113-154&383_386&473-386&473_177&454_154&383_363&402-0_0_22_27_27_33_16-37-15.jpg``.
The vertices start at the bottom-right corner; this module reorders them to the project's order,
clockwise from top-left (TL, TR, BR, BL). Old-style names (tilt like ``0_1``) have the same shape.
CCPD2020 (green, new-energy) names carry 8 character indices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from alprd.model.charset import ccpd_text

CCPD_SIZE = (720, 1160)          # width, height of every CCPD still
_IMAGE_EXTS = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True, eq=False)
class CcpdLabel:
    """Everything a CCPD file name says about its single plate."""

    name: str                                   # the file name it came from
    corners: np.ndarray                         # 4×2 float32, TL, TR, BR, BL (image pixels)
    bbox: tuple[int, int, int, int]             # x1, y1, x2, y2
    text: str                                   # 7 chars (blue) or 8 (green new-energy)
    tilt: tuple[int, int]                       # horizontal, vertical tilt degrees (as written)
    area: str                                   # the area field as written (ratio digits)
    brightness: int
    blur: int

    @property
    def is_green(self) -> bool:
        return len(self.text) == 8


@dataclass(frozen=True, eq=False)
class CcpdSample:
    path: Path
    label: CcpdLabel = field(repr=False)


def _ints(part: str, sep: str, n: int | None, what: str, name: str) -> list[int]:
    try:
        vals = [int(v) for v in part.split(sep)]
    except ValueError:
        raise ValueError(f"{name}: {what} field {part!r} is not {sep!r}-separated integers") from None
    if n is not None and len(vals) != n:
        raise ValueError(f"{name}: {what} field {part!r} has {len(vals)} values, expected {n}")
    return vals


_MAX_COORD = 100_000  # far beyond any still; larger numbers overflow float32 corners to inf


def _point(part: str, what: str, name: str) -> tuple[int, int]:
    x, y = _ints(part, "&", 2, what, name)
    if not (0 <= x <= _MAX_COORD and 0 <= y <= _MAX_COORD):
        raise ValueError(f"{name}: {what} point {part!r} is out of range")
    return x, y


def parse_ccpd_name(name: str | Path) -> CcpdLabel:
    """Label of one CCPD file name (a path is fine; only its last component is read).

    Raises ValueError naming the file when the name is not a CCPD label."""
    fname = Path(name).name
    stem = fname.rsplit(".", 1)[0] if "." in fname else fname
    fields = stem.split("-")
    if len(fields) != 7:
        raise ValueError(f"{fname}: not a CCPD name (expected 7 '-'-separated fields, got {len(fields)})")
    area, tilt, bbox, verts, chars, bright, blur = fields
    if not area.isdigit():
        raise ValueError(f"{fname}: area field {area!r} is not digits")
    th, tv = _ints(tilt, "_", 2, "tilt", fname)
    b = bbox.split("_")
    if len(b) != 2:
        raise ValueError(f"{fname}: bbox field {bbox!r} must be two x&y points")
    (x1, y1), (x2, y2) = _point(b[0], "bbox", fname), _point(b[1], "bbox", fname)
    if x2 < x1 or y2 < y1:
        raise ValueError(f"{fname}: bbox {bbox!r} has its corners swapped")
    v = verts.split("_")
    if len(v) != 4:
        raise ValueError(f"{fname}: vertices field {verts!r} must be four x&y points")
    rb, lb, lt, rt = (_point(p, "vertices", fname) for p in v)
    corners = np.array([lt, rt, rb, lb], dtype=np.float32)
    idx = _ints(chars, "_", None, "characters", fname)
    try:
        text = ccpd_text(idx)
    except ValueError as exc:
        raise ValueError(f"{fname}: {exc}") from None
    bright_v = _ints(bright, "_", 1, "brightness", fname)[0]
    blur_v = _ints(blur, "_", 1, "blur", fname)[0]
    return CcpdLabel(fname, corners, (x1, y1, x2, y2), text, (th, tv), area, bright_v, blur_v)


def list_ccpd(root: str | Path, strict: bool = True) -> list[CcpdSample]:
    """Every CCPD image under `root` (recursively, sorted by path) with its parsed label.

    strict=False skips names that do not parse instead of raising."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"CCPD folder {root} does not exist")
    out = []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in _IMAGE_EXTS or not p.is_file():
            continue
        try:
            out.append(CcpdSample(p, parse_ccpd_name(p.name)))
        except ValueError:
            if strict:
                raise
    return out


def ccpd_roots(data_root: str | Path, split: str = "dev") -> list[Path]:
    """The CCPD folders of one split that exist: ccpd/<split>, ccpd_green/<split>."""
    if split not in ("dev", "holdout"):
        raise ValueError(f"split must be 'dev' or 'holdout', got {split!r}")
    data_root = Path(data_root)
    return [p for p in (data_root / "ccpd" / split, data_root / "ccpd_green" / split) if p.is_dir()]


def load_ccpd_split(data_root: str | Path, split: str = "dev") -> list[CcpdSample]:
    """All labelled CCPD (blue and green) images of one split."""
    out: list[CcpdSample] = []
    for r in ccpd_roots(data_root, split):
        out.extend(list_ccpd(r))
    return out
