"""Real plate crops whose label is the file name.

Names are either the plate itself (``皖A12345.jpg``) or HyperLPR's ``_<k>_<plate>.jpg``. An index
CSV (``plates_cropped/labels.csv``: path, plate, ..., split) lists them with their split; without
one, a folder is read by file name. Labels with characters outside the charset are not returned
as samples but reported in `CropIndex.rejected` with the reason.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from alprd.model.charset import encode

_IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp"}
_HYPERLPR = re.compile(r"^_\d+_(?P<plate>.+)$")


@dataclass(frozen=True)
class CropSample:
    path: Path
    text: str


@dataclass
class CropIndex:
    samples: list[CropSample] = field(default_factory=list)
    rejected: list[tuple[Path, str]] = field(default_factory=list)     # (path, why)


def label_from_filename(name: str | Path) -> str:
    """The plate a crop's file name carries: the stem, or the part after ``_<k>_``."""
    stem = Path(name).stem
    m = _HYPERLPR.match(stem)
    return m.group("plate") if m else stem


def check_label(text: str) -> str | None:
    """None when the text is a usable recognition label, else why not."""
    if len(text) not in (7, 8):
        return f"length {len(text)} (expected 7 or 8)"
    try:
        encode(text)
    except ValueError as exc:
        return str(exc)
    return None


def _add(index: CropIndex, path: Path, text: str) -> None:
    why = check_label(text)
    if why is None:
        index.samples.append(CropSample(path, text))
    else:
        index.rejected.append((path, why))


def load_crops_csv(csv_path: str | Path, split: str = "dev") -> CropIndex:
    """Crops of one split from an index CSV whose `path` column is relative to the CSV's parent's
    parent (the data root, as in shared/data/plates_cropped/labels.csv)."""
    csv_path = Path(csv_path)
    base = csv_path.parent.parent
    index = CropIndex()
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row.get("split") != split:
                continue
            path = base / row["path"]
            if not path.is_file():
                index.rejected.append((path, "file missing"))
                continue
            text = (row.get("plate") or label_from_filename(path)).strip()
            _add(index, path, text)
    return index


def load_crops_dir(root: str | Path) -> CropIndex:
    """Every image under `root` (recursively, sorted), labelled by its file name."""
    index = CropIndex()
    for p in sorted(Path(root).rglob("*")):
        if p.suffix.lower() in _IMAGE_EXTS and p.is_file():
            _add(index, p, label_from_filename(p.name))
    return index


def load_real_crops(data_root: str | Path, split: str = "dev") -> CropIndex:
    """The real crops of one split: plates_cropped/labels.csv when present, else the folder."""
    data_root = Path(data_root)
    csv_path = data_root / "plates_cropped" / "labels.csv"
    if csv_path.is_file():
        return load_crops_csv(csv_path, split)
    folder = data_root / "plates_cropped" / split
    return load_crops_dir(folder) if folder.is_dir() else CropIndex()
