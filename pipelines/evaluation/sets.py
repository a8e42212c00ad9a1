"""The evaluation sets, by name: one registration per set family.

A family registered with ``splits=True`` (the default) is asked for as ``<name>_<split>``, split
being ``dev``, ``devval`` (dev's validation slice, never trained on) or ``holdout``; its loader
gets ``(root, folder, limit, val_only)``. A family with ``splits=False`` is one set of that exact
name; its loader gets ``(root, limit)``. The kind says which loop of
pipelines.evaluation.metrics scores the items (``scenes``, ``crops``, ``jittered``, ``reads``).
Adding a set is one ``@register(...)`` on its loader. `holdout` sets are for the final report only.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.evaluation.metrics import EVALUATORS, Sample

SPLITS = ("dev", "devval", "holdout")

# `<set>_devval`: the dev items of the training configs' validation slice (data.val_fraction),
# never trained on: the fair dev comparison of checkpoints that trained on the rest of dev.
DEV_VAL_FRACTION = 0.2


class UnknownSet(ValueError):
    """A set name that no registration knows; the message lists the families."""


@dataclass(frozen=True)
class SetFamily:
    name: str
    kind: str
    load: Callable[..., Iterable]
    help: str
    splits: bool = True


_FAMILIES: dict[str, SetFamily] = {}


def register(name: str, kind: str, help: str, *, splits: bool = True):
    """Decorator: the function loads the items of set `name` (see the module docstring)."""
    if kind not in EVALUATORS:
        raise ValueError(f"set {name!r}: kind must be one of {', '.join(EVALUATORS)}")

    def deco(load):
        _FAMILIES[name] = SetFamily(name, kind, load, help, splits)
        return load
    return deco


def families() -> list[SetFamily]:
    return list(_FAMILIES.values())


def set_names_help() -> str:
    """One line per family, for --help."""
    return "; ".join(f"{f.name}{'_{dev,devval,holdout}' if f.splits else ''}: {f.help}"
                     for f in _FAMILIES.values())


def resolve_set(name: str, root: Path, limit: int | None = None) -> tuple[str, Iterable]:
    """Set name -> (kind, iterable of its items). Raises UnknownSet for a name nothing registered."""
    fam = _FAMILIES.get(name)
    if fam is not None and not fam.splits:
        return fam.kind, fam.load(root, limit)
    base, _, split = name.rpartition("_")
    fam = _FAMILIES.get(base)
    if fam is None or not fam.splits:
        known = ", ".join(f.name + ("_*" if f.splits else "") for f in _FAMILIES.values())
        raise UnknownSet(f"unknown set {name!r} (known: {known})")
    if split not in SPLITS:
        raise UnknownSet(f"set {name!r}: expected a name ending in _dev, _devval or _holdout")
    folder, val_only = ("dev", True) if split == "devval" else (split, False)
    return fam.kind, fam.load(root, folder, limit, val_only)


# ---------------------------------------------------------------- loaders

PINYIN = {"GAN": "甘", "SHAN": "陕", "WAN": "皖"}      # real_scenes_cn/JackEasson_* name prefixes
LPRNET_CROP = (94, 24)


def _val_slice(items: list, name=lambda s: s.path.name) -> list:
    from pipelines.train_data import dev_split
    return dev_split(items, DEV_VAL_FRACTION, key=name)[1]


def _ccpd_samples(folders: list[Path], limit: int | None, val_only: bool = False) -> Iterable[Sample]:
    from alprd.imageio import read_image
    from pipelines.data.ccpd import list_ccpd

    items = [s for f in folders if f.is_dir() for s in list_ccpd(f)]
    if val_only:
        items = _val_slice(items)
    for s in items[:limit]:
        yield Sample(s.path.name, read_image(s.path), s.label.corners[None], (s.label.text,))


def _box_crops(samples: Iterable[Sample]):
    """Each plate cut by its upright bounding box and resized to 94×24, as the LPRNet-style crop
    sets (plates_cropped/holdout) were made from CCPD: a dev stand-in for that holdout."""
    import cv2

    for s in samples:
        h, w = s.image.shape[:2]
        for k, (c, text) in enumerate(zip(s.corners, s.texts)):
            x0, y0 = np.clip(np.floor(c.min(0)).astype(int), 0, [w - 1, h - 1])
            x1, y1 = np.clip(np.ceil(c.max(0)).astype(int), [x0 + 1, y0 + 1], [w, h])
            yield f"{s.name}#{k}", cv2.resize(s.image[y0:y1, x0:x1], LPRNET_CROP, interpolation=cv2.INTER_AREA), text


@register("ccpd", "scenes", "CCPD blue plates, end to end")
def _ccpd(root, folder, limit, val_only):
    return _ccpd_samples([root / "ccpd" / folder], limit, val_only)


@register("ccpd_green", "scenes", "CCPD green (8-character) plates, end to end")
def _ccpd_green(root, folder, limit, val_only):
    return _ccpd_samples([root / "ccpd_green" / folder], limit, val_only)


@register("ccpd_all", "scenes", "CCPD blue + green, end to end")
def _ccpd_all(root, folder, limit, val_only):
    return _ccpd_samples([root / "ccpd" / folder, root / "ccpd_green" / folder], limit, val_only)


@register("crops", "crops", "real tight plate crops, RSNet alone")
def _crops(root, folder, limit, val_only):
    from alprd.imageio import read_image
    from pipelines.data.crops import load_real_crops

    samples = load_real_crops(root, folder).samples
    if val_only:
        samples = _val_slice(samples)
    for s in samples[:limit]:
        yield s.path.name, read_image(s.path), s.text


@register("ccpd_box", "crops", "CCPD plates cut by their upright box to 94x24, RSNet alone")
def _ccpd_box(root, folder, limit, val_only):
    return _box_crops(_ccpd_all(root, folder, limit, val_only))


@register("ccpd_jitter", "jittered",
          "CCPD blue + green plates read from their annotated corners jittered like DSNet's, 10 draws each")
def _ccpd_jitter(root, folder, limit, val_only):
    return _ccpd_all(root, folder, limit, val_only)


@register("real_scenes", "reads",
          "the non-CCPD photos of real_scenes_cn, read-anywhere rule, 3 labelled", splits=False)
def _real_scenes(root: Path, limit: int | None):
    from alprd.imageio import read_image

    paths = sorted(p for p in (root / "real_scenes_cn").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for p in paths[:limit]:
        prov, _, rest = p.stem.partition("_")
        label = PINYIN[prov] + rest if prov in PINYIN and len(rest) in (6, 7) else None
        yield p.name, read_image(p), label


from pipelines import stress as _stress  # noqa: E402,F401  (registers the stress and street sets)
