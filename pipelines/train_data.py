"""Training-side glue between the data sets (pipelines.datasets, pipelines.data) and the training loop.

- `det_item` / `rec_item` turn whatever a data set returns (a synth `Scene`, a dict, a tuple) into
  one shape: a letterboxed detector view with its quads and texts, or a 144×48 crop and its text.
- `DetTrainSet` adds the per-cell targets (built in the DataLoader workers); `collate_det` /
  `collate_rec` batch them as uint8 (normalised on the device: 4× less to copy than float).
- `Mixture` draws each sample position from weighted sources, deterministically from (seed, i),
  and `StepSampler` feeds positions from where a run stopped, so a resumed run sees exactly
  the samples it would have seen.
- `dev_split` keeps a stable validation slice of the real dev files (by a hash of the file
  name), so training and validation never share an image.
- `ToyScenes` / `ToyCrops`: tiny generated data (no assets needed) for tests and smoke runs.
"""
from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from alprd.model import geometry
from alprd.model.charset import CHARS, LETTERS, REGION_CHARS, encode
from pipelines.targets import TargetConfig, build_targets

ALNUM = LETTERS + tuple("0123456789")
CROP_TYPES = {"crops", "synth_crops", "toy_crops", "two_row_crops", "hard_crops", "smear_crops"}           # sources / validation sets of the rec stage
SMEAR_VAL = (0.07, 0.17)     # smear_crops: the stress set's 21 px on CCPD dev's 125-285-px plates
SCENE_TYPES = {"synth_scenes", "ccpd", "toy_scenes"}         # ... of the det and joint stages


def for_stage(specs: list[dict], stage: str) -> list[dict]:
    """The config entries a stage uses: crops for rec, scenes for det / joint (one config may
    list both, e.g. tiny.yaml)."""
    kinds = CROP_TYPES if stage == "rec" else SCENE_TYPES
    return [s for s in specs if s["type"] in kinds]


# ---------------------------------------------------------------- item normalisation

def as_hwc(image) -> np.ndarray:
    """uint8 image as H×W×3 numpy: pipelines.datasets items (normalize=False) are C×H×W tensors."""
    if isinstance(image, torch.Tensor):
        if image.dtype != torch.uint8:
            raise ValueError("expected uint8 images: build pipelines.datasets sets with normalize=False")
        image = image.numpy()
        if image.ndim == 3 and image.shape[0] == 3 and image.shape[2] != 3:
            image = image.transpose(1, 2, 0)
    return np.asarray(image)


def scene_parts(obj) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Anything scene-like → (BGR image, corners K×4×2 image px, texts)."""
    if hasattr(obj, "image") and hasattr(obj, "plates"):                    # synth Scene
        corners = [p[0] for p in obj.plates]
        texts = [p[1] for p in obj.plates]
        image = obj.image
    elif isinstance(obj, dict):
        image = obj["image"]
        corners = obj.get("corners", obj.get("quads"))
        texts = obj.get("texts", obj.get("text", []))
        if isinstance(texts, str):
            texts = [texts]
    else:
        image, corners, texts = obj[:3]
        if isinstance(texts, str):
            texts = [texts]
    if isinstance(corners, torch.Tensor):
        corners = corners.numpy()
    corners = np.asarray(corners, np.float32).reshape(-1, 4, 2)
    return as_hwc(image), corners, list(texts)


def det_item(obj, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Scene-like → (size×size letterboxed view, quads in view px, texts): the serving policy."""
    image, corners, texts = scene_parts(obj)
    if image.shape[:2] == (size, size):
        return image, corners, texts
    view, lb = geometry.letterbox(image, size)
    return view, lb.to_view(corners), texts


def rec_item(obj) -> tuple[np.ndarray, str]:
    """Crop-like → (48×144×3 uint8 BGR, text)."""
    if hasattr(obj, "image") and hasattr(obj, "text"):
        image, text = obj.image, obj.text
    elif isinstance(obj, dict):
        image, text = obj["image"], obj["text"]
    else:
        image, text = obj[:2]
    image = as_hwc(image)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    w, h = geometry.PLATE_SIZE
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if image.shape[1] > w else cv2.INTER_LINEAR)
    return image, text


def encodable(text: str) -> bool:
    return len(text) in (7, 8) and all(c in CHARS for c in text)


# ---------------------------------------------------------------- data sets

class DetTrainSet(Dataset):
    """Scene source → {image S×S×3 uint8, targets, quads, texts}."""

    def __init__(self, source: Dataset, size: int = 512, target_cfg: TargetConfig | None = None):
        self.source, self.size, self.cfg = source, size, target_cfg or TargetConfig()

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict:
        view, quads, texts = det_item(self.source[i], self.size)
        g = self.size // self.cfg.stride
        return {"image": np.ascontiguousarray(view), "targets": build_targets(quads, g, g, self.cfg),
                "quads": quads, "texts": texts}


class RecTrainSet(Dataset):
    def __init__(self, source: Dataset):
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> dict:
        image, text = rec_item(self.source[i])
        return {"image": np.ascontiguousarray(image), "text": text}


class Mixture(Dataset):
    """Weighted mixture: position i → (source, index) drawn from rng(seed, i). Sampling with
    replacement keeps it stateless (and resumable); `length` is a virtual epoch."""

    def __init__(self, sources: Sequence[Dataset], weights: Sequence[float], seed: int = 0, length: int = 10**9):
        if not sources:
            raise ValueError("a mixture needs at least one source")
        w = np.asarray(weights, np.float64)
        self.sources, self.cum, self.seed, self.length = list(sources), np.cumsum(w / w.sum()), seed, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int):
        rng = np.random.default_rng((self.seed, int(i)))
        k = min(int(np.searchsorted(self.cum, rng.random(), side="right")), len(self.sources) - 1)
        src = self.sources[k]
        j = int(rng.integers(len(src)))
        if hasattr(src, "set_epoch"):
            # pipelines.datasets items are a function of (seed, epoch, index): a fresh epoch per
            # draw gives a real image drawn twice two different augmentations, still determined by i
            src.set_epoch(int(rng.integers(2**31)))
        return src[j]


class StepSampler(Sampler):
    """Sample positions start, start+1, … (end exclusive): the Mixture does the shuffling."""

    def __init__(self, start: int, end: int):
        self.start, self.end = start, end

    def __iter__(self):
        return iter(range(self.start, self.end))

    def __len__(self) -> int:
        return max(0, self.end - self.start)


def dev_split(items: Sequence, val_fraction: float, key=lambda s: Path(s.path).name) -> tuple[list, list]:
    """(train, val): an item is validation when crc32(file name) falls in the first val_fraction."""
    train, val = [], []
    for it in items:
        (val if (zlib.crc32(key(it).encode()) % 10_000) < val_fraction * 10_000 else train).append(it)
    return train, val


# ---------------------------------------------------------------- collate

def collate_det(batch: list[dict]) -> dict:
    out = {"images": torch.from_numpy(np.stack([b["image"] for b in batch]))}
    for k in ("mask", "corners", "offsets", "weight", "plate"):
        out[k] = torch.from_numpy(np.stack([b["targets"][k] for b in batch]))
    quads, owner, labels, lengths, plate_id = [], [], [], [], []
    for i, b in enumerate(batch):
        for k, (q, t) in enumerate(zip(b["quads"], b["texts"])):
            if encodable(t):
                quads.append(q)
                owner.append(i)
                plate_id.append(k)
                labels.extend(encode(t))
                lengths.append(len(t))
    out["plate_corners"] = torch.from_numpy(np.asarray(quads, np.float32).reshape(-1, 4, 2))
    out["plate_owner"] = torch.tensor(owner, dtype=torch.long)
    out["plate_id"] = torch.tensor(plate_id, dtype=torch.long)
    out["labels"] = torch.tensor(labels, dtype=torch.long)
    out["label_lengths"] = torch.tensor(lengths, dtype=torch.long)
    return out


def collate_rec(batch: list[dict]) -> dict:
    texts = [b["text"] for b in batch]
    return {
        "images": torch.from_numpy(np.stack([b["image"] for b in batch])),
        "labels": torch.tensor([c for t in texts for c in encode(t)], dtype=torch.long),
        "label_lengths": torch.tensor([len(t) for t in texts], dtype=torch.long),
        "texts": texts,
    }


def to_input(images_u8: torch.Tensor, device: torch.device, channels_last: bool = False) -> torch.Tensor:
    """B×H×W×3 uint8 (on any device) → B×3×H×W float in [-1, 1] on `device` (geometry.normalize)."""
    x = images_u8.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x.contiguous()


# ---------------------------------------------------------------- toy data (tests, smoke runs)

def toy_text(rng: np.random.Generator) -> str:
    n = 8 if rng.random() < 0.2 else 7
    return (REGION_CHARS[int(rng.integers(len(REGION_CHARS)))] + LETTERS[int(rng.integers(len(LETTERS)))]
            + "".join(ALNUM[int(rng.integers(len(ALNUM)))] for _ in range(n - 2)))


def toy_plate(text: str, rng: np.random.Generator, w: int = 144, h: int = 48) -> np.ndarray:
    """A flat blue plate with the ASCII characters drawn (the province as a coloured block)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (int(rng.integers(150, 220)), int(rng.integers(60, 110)), int(rng.integers(0, 40)))
    step = w / (len(text) + 0.5)
    for i, c in enumerate(text):
        x = int(6 + i * step)
        if i == 0:
            v = CHARS.index(c) * 7 % 255
            cv2.rectangle(img, (x, 10), (x + int(step) - 4, h - 10), (255, v, 255 - v), -1)
        else:
            cv2.putText(img, c, (x, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 255), 2, cv2.LINE_AA)
    return img


class ToyCrops(Dataset):
    def __init__(self, n: int = 1000, seed: int = 0):
        self.n, self.seed = n, seed

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng((self.seed, 1, i))
        text = toy_text(rng)
        img = toy_plate(text, rng).astype(np.int16) + rng.integers(-20, 20, (48, 144, 3))
        return {"image": np.clip(img, 0, 255).astype(np.uint8), "text": text}


class ToyScenes(Dataset):
    """Noise backgrounds (some 16:9) with 1–2 toy plates warped onto random quads."""

    def __init__(self, n: int = 1000, seed: int = 0, size: tuple[int, int] = (640, 480)):
        self.n, self.seed, self.size = n, seed, size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        rng = np.random.default_rng((self.seed, 2, i))
        w, h = self.size
        img = rng.integers(0, 255, (h // 8, w // 8, 3)).astype(np.uint8)
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        corners, texts = [], []
        for k in range(int(rng.integers(1, 3))):
            pw = float(rng.uniform(0.15, 0.35) * w)
            ph = pw / 3.1
            cx = float(rng.uniform(pw * 0.7, w - pw * 0.7))
            cy = float(rng.uniform(ph + h * k / 2, h / 2 * (k + 1) - ph))
            q = np.array([[-pw / 2, -ph / 2], [pw / 2, -ph / 2], [pw / 2, ph / 2], [-pw / 2, ph / 2]], np.float32)
            q += rng.uniform(-0.06, 0.06, (4, 2)).astype(np.float32) * np.float32(pw)
            q += np.float32([cx, cy])
            text = toy_text(rng)
            plate = toy_plate(text, rng)
            m = cv2.getPerspectiveTransform(np.float32([[0, 0], [144, 0], [144, 48], [0, 48]]), q)
            warped = cv2.warpPerspective(plate, m, (w, h))
            alpha = cv2.warpPerspective(np.ones((48, 144), np.float32), m, (w, h))[..., None]
            img = (img * (1 - alpha) + warped * alpha).astype(np.uint8)
            corners.append(q)
            texts.append(text)
        return {"image": img, "corners": np.stack(corners), "texts": texts}


# ---------------------------------------------------------------- sources from the config

def _root(spec: dict):
    from pipelines.data import data_root

    return Path(spec["data_root"]) if spec.get("data_root") else data_root(required=True)


def dev_ccpd(spec: dict, val_fraction: float) -> tuple[list, list]:
    """The dev CCPD stills (blue + green) split into (train, val) slices; never holdout."""
    from pipelines.data.ccpd import load_ccpd_split

    return dev_split(load_ccpd_split(_root(spec), "dev"), val_fraction)


def build_source(spec: dict, size: int, val_fraction: float) -> Dataset:
    """One training source of the config's `data.train` list (see pipelines/configs/*.yaml).

    Real dev files of the validation slice are removed from every source (also from the CCPD
    stills the synthetic plate swaps paint over): validation images are never trained on."""
    kind = spec["type"]
    seed = int(spec.get("seed", 0))
    if kind == "toy_scenes":
        return ToyScenes(int(spec.get("n", 1000)), seed)
    if kind == "toy_crops":
        return ToyCrops(int(spec.get("n", 1000)), seed)
    from pipelines import datasets as D

    if kind == "synth_scenes":
        ds = D.SynthDetectionDataset(length=int(spec.get("n", 1_000_000)), seed=seed, size=size,
                                     recipes=spec.get("recipes"), data_root=spec.get("data_root"),
                                     augment=bool(spec.get("augment", True)), normalize=False)
        ds.ccpd = dev_ccpd(spec, val_fraction)[0]
        if not ds.ccpd and "ccpd_swap" in ds.recipes:
            raise ValueError("synth_scenes: no dev CCPD stills left for the ccpd_swap recipe")
        return ds
    if kind == "ccpd":
        ds = D.CcpdDataset(split="dev", size=size, augment=bool(spec.get("augment", True)), seed=seed,
                           data_root=spec.get("data_root"), normalize=False)
        ds.samples = dev_split(ds.samples, val_fraction)[0]
        return ds
    if kind == "crops":
        ds = D.CropDataset(n_synth=int(spec.get("n_synth", 1_000_000)), seed=seed,
                           real_crops=bool(spec.get("real_crops", True)), ccpd_plates=bool(spec.get("ccpd_plates", True)),
                           real_repeat=int(spec.get("real_repeat", 1)), augment=bool(spec.get("augment", True)),
                           data_root=spec.get("data_root"), normalize=False,
                           synth_box_p=float(spec.get("synth_box_p", 0.0)), hard_p=float(spec.get("hard_p", 0.0)),
                           smear_p=float(spec.get("smear_p", 0.0)))
        ds.real = dev_split(ds.real, val_fraction, key=lambda r: Path(r[0]).name)[0]
        return ds
    if kind == "two_row_crops":
        return D.TwoRowCropDataset(n=int(spec.get("n", 1_000_000)), seed=seed, augment=bool(spec.get("augment", True)),
                                   normalize=False, hard_p=float(spec.get("hard_p", 0.0)))
    raise ValueError(f"unknown data source type {kind!r} (toy_scenes, toy_crops, synth_scenes, ccpd, crops, two_row_crops)")


def real_crop_val(spec: dict, val_fraction: float) -> list[tuple[str, np.ndarray, str]]:
    """Validation slice of the real dev crops, as (name, BGR image, text)."""
    from alprd.imageio import read_image
    from pipelines.data.crops import load_real_crops

    samples = dev_split(load_real_crops(_root(spec), "dev").samples, val_fraction)[1]
    return [(s.path.name, read_image(s.path), s.text) for s in samples]


def val_scenes(spec: dict, size: int, val_fraction: float):
    """Validation scenes of one `data.val` entry (full frames, regenerated on each call):
    ccpd → the dev validation slice; synth_scenes → `n` synthetic scenes of a separate seed
    (plate swaps only over validation-slice stills); toy_scenes → toy frames."""
    kind = spec["type"]
    if kind == "toy_scenes":
        ds = ToyScenes(int(spec.get("n", 8)), int(spec.get("seed", 10_000)))
        yield from (ds[i] for i in range(len(ds)))
        return
    if kind == "ccpd":
        from alprd.imageio import read_image

        for s in dev_ccpd(spec, val_fraction)[1][: spec.get("n")]:
            yield {"image": read_image(s.path), "corners": s.label.corners[None], "texts": [s.label.text]}
        return
    if kind == "synth_scenes":
        from pipelines import datasets as D
        from pipelines.synth import assets
        from pipelines.synth.augment import photometric

        ds = D.SynthDetectionDataset(length=int(spec.get("n", 32)), seed=int(spec.get("seed", 10_000)), size=size,
                                     recipes=spec.get("recipes"), data_root=spec.get("data_root"),
                                     augment=False, normalize=False)
        ds.ccpd = dev_ccpd(spec, val_fraction)[1]
        if not ds.ccpd and "ccpd_swap" in ds.recipes:
            ds.recipes.remove("ccpd_swap")
            ds.recipe_p = np.full(len(ds.recipes), 1 / len(ds.recipes))
        for i in range(len(ds)):
            rng = ds.rng(i)
            sc = ds.scene(i, rng)
            if spec.get("augment", True):
                sc.image = photometric(sc.image, rng, assets.stain_textures())
            yield sc
        return
    raise ValueError(f"unknown validation scene type {kind!r} (ccpd, synth_scenes, toy_scenes)")


def val_crops(spec: dict, val_fraction: float) -> list[tuple[str, np.ndarray, str]]:
    """Validation crops of one `data.val` entry: real → dev crop slice; synth → `n` synthetic
    crops (separate seed, as degraded as training's); toy → toy crops."""
    kind = spec["type"]
    n, seed = int(spec.get("n", 256)), int(spec.get("seed", 10_000))
    if kind == "toy_crops":
        ds = ToyCrops(n, seed)
        return [(f"toy{i}", ds[i]["image"], ds[i]["text"]) for i in range(n)]
    if kind == "crops":
        return real_crop_val(spec, val_fraction)[: spec.get("n")]
    if kind == "synth_crops":
        from pipelines import datasets as D

        # a fixed corner error (the one used before DETECTOR_JITTER): validation figures stay
        # comparable across changes of the training mixture
        ds = D.CropDataset(n_synth=n, seed=seed, real_crops=False, ccpd_plates=False, augment=True, normalize=False,
                           corner_jitter=float(spec.get("corner_jitter", 0.04)))
        return [(f"synth{i}", *rec_item(ds[i])) for i in range(n)]
    if kind == "two_row_crops":
        from pipelines import datasets as D

        ds = D.TwoRowCropDataset(n=n, seed=seed, augment=True, normalize=False, hard_p=float(spec.get("hard_p", 0.0)))
        return [(f"two_row{i}", *rec_item(ds[i])) for i in range(n)]
    if kind == "hard_crops":
        # the real validation crops through a street camera's worst, one seeded draw each
        from pipelines.synth.augment import camera_hard

        out = []
        for k, (name, img, text) in enumerate(real_crop_val(spec, val_fraction)[: spec.get("n")]):
            crop, _ = rec_item((img, text))
            out.append((name, camera_hard(crop, np.random.default_rng((seed, k))), text))
        return out
    if kind == "smear_crops":
        # the real validation crops smeared like pipelines.stress's mblur relative to the plate
        # (7-17 % of its width), one seeded draw each
        from pipelines.synth.augment import plate_smear

        out = []
        for k, (name, img, text) in enumerate(real_crop_val(spec, val_fraction)[: spec.get("n")]):
            h, w = img.shape[:2]
            quad = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
            smeared = plate_smear(img, quad, np.random.default_rng((seed, k)), SMEAR_VAL)
            out.append((name, rec_item((smeared, text))[0], text))
        return out
    raise ValueError(f"unknown validation crop type {kind!r} (crops, synth_crops, toy_crops, two_row_crops, hard_crops, "
                     "smear_crops)")
