"""Stress variants of dev images: what a street camera does to a plate, made from labelled stills;
and the real non-CCPD scenes of real_scenes_cn/labels.csv. Registered as evaluation sets:

    ccpd_<variant>_<split>   CCPD blue + green stills made harder (variants below), end to end
    street_dev               real_scenes_cn one-row scenes (not CCPD), read-anywhere + junk
    two_row_dev              real_scenes_cn two-row plates (trucks, trailers), read-anywhere + junk

Each maker takes an evaluation Sample (full frame, GT quads, texts) and a seeded generator and
returns a harder Sample with its quads moved to match, so pipelines.evaluate scores it with the
same end-to-end rule as the original. Every draw comes from a generator seeded by the set's name
and the image's name, so a set is the same images on every run and machine.

    half, third   the whole image shrunk to 1/2 or 1/3 (INTER_AREA): fewer pixels on the plate
    mblur         horizontal motion blur, a 21-px line kernel (a car crossing a 1/100 s shutter)
    glare         a headlight-like bright blob beside the plate and a veil over the frame
    dark          low light: gamma 1.6, gain 0.35, sensor noise (sigma 3 grey levels)
    frame         the image placed in a 1920x1080 frame (shrunk only to fit: CCPD's 1160 px to 1080)
    far           the image shrunk until its plate is 25-45 px wide, placed in a 1920x1080 frame
                  (a distant car: the case the detector's 512-px view cannot see)
    photo         the image shrunk until its plate is 40-80 px wide, placed in a 1024x768 frame
                  (a street photo: 20-40 px in the detector's view)
    vga           the image shrunk until its plate is 28-48 px wide, placed in a 640x480 frame
                  (a small photo or a sub-stream: 22-38 px in the detector's view)

The backgrounds are CCPD dev street stills with their plate painted out (no plate left
to find); two-row and street scenes come from real_scenes_cn/labels.csv (not CCPD).
"""
from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FRAME = (1920, 1080)
MBLUR_PX = 21
FAR_WIDTH = (25.0, 45.0)
PHOTO = (1024, 768)
PHOTO_WIDTH = (40.0, 80.0)
VGA = (640, 480)
VGA_WIDTH = (28.0, 48.0)


@dataclass(frozen=True)
class Scene:
    """A real scene with text labels only (no corners): read-anywhere evaluation."""

    name: str
    image: np.ndarray
    texts: tuple[str, ...]


def rng_for(*keys: str) -> np.random.Generator:
    """A generator seeded by the keys (stable across runs and Python's hash seed)."""
    digest = hashlib.sha256("\0".join(keys).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _scaled(sample, f: float):
    from pipelines.evaluation.metrics import Sample

    h, w = sample.image.shape[:2]
    nw, nh = max(1, round(w * f)), max(1, round(h * f))
    img = cv2.resize(sample.image, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    corners = np.asarray(sample.corners, np.float32) * np.array([nw / w, nh / h], np.float32)
    return Sample(sample.name, img, corners, sample.texts)


def half(sample, rng):
    return _scaled(sample, 0.5)


def third(sample, rng):
    return _scaled(sample, 1 / 3)


def mblur(sample, rng, px: int = MBLUR_PX):
    from pipelines.evaluation.metrics import Sample

    k = np.full((1, px), 1.0 / px, np.float32)
    return Sample(sample.name, cv2.filter2D(sample.image, -1, k, borderType=cv2.BORDER_REFLECT), sample.corners,
                  sample.texts)


def glare(sample, rng):
    """A saturating bright blob (a headlight) centred 0.9-1.4 plate widths beside the plate, sigma
    0.35-0.6 plate widths, over a veil that lifts the blacks (contrast lost to scattered light)."""
    from pipelines.evaluation.metrics import Sample

    img = sample.image.astype(np.float32)
    h, w = img.shape[:2]
    c = np.asarray(sample.corners, np.float32).reshape(-1, 4, 2)[0]
    pw = float(np.linalg.norm(c[1] - c[0]))
    centre = c.mean(0) + np.array([rng.choice([-1, 1]) * rng.uniform(0.9, 1.4) * pw, rng.uniform(-0.3, 0.3) * pw])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d2 = (xx - centre[0]) ** 2 + (yy - centre[1]) ** 2
    blob = np.exp(-d2 / (2 * (rng.uniform(0.35, 0.6) * pw) ** 2))[..., None]
    veil = rng.uniform(20, 60)
    out = img * (1 - veil / 255) + veil + 255 * rng.uniform(0.7, 1.0) * blob
    return Sample(sample.name, np.clip(out, 0, 255).astype(np.uint8), sample.corners, sample.texts)


def dark(sample, rng):
    from pipelines.evaluation.metrics import Sample

    x = (sample.image.astype(np.float32) / 255) ** 1.6 * 0.35 * 255
    x += rng.normal(0, 3, x.shape).astype(np.float32)
    return Sample(sample.name, np.clip(np.rint(x), 0, 255).astype(np.uint8), sample.corners, sample.texts)


BACKGROUNDS = 12


def _backgrounds(root: Path) -> list[np.ndarray]:
    """The first BACKGROUNDS CCPD dev stills (sorted by path; but a truck with its number painted
    on its rear) with their plate painted out (cv2.inpaint over the annotated quad, grown by 4 px):
    street scenes with no plate in them."""
    from pipelines.data.ccpd import list_ccpd

    # a truck whose rear carries its number painted large: a plate to read, not background
    items = [s for s in list_ccpd(root / "ccpd" / "dev")[:BACKGROUNDS] if s.label.text != "皖AV5U56"]
    if not items:
        raise SystemExit(f"stress sets: no CCPD dev stills under {root / 'ccpd' / 'dev'}")
    out = []
    for s in items:
        img = cv2.imread(str(s.path))
        mask = np.zeros(img.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, np.rint(s.label.corners).astype(np.int32), 255)
        mask = cv2.dilate(mask, np.ones((9, 9), np.uint8))
        out.append(cv2.inpaint(img, mask, 5, cv2.INPAINT_TELEA))
    return out


_BG_CACHE: dict[str, list[np.ndarray]] = {}


def background(root: Path, rng: np.random.Generator, size=FRAME) -> np.ndarray:
    """A street frame of `size`: plate-less CCPD dev stills (drawn at random, mirrored at random)
    scaled to the frame's height and set side by side."""
    key = str(root)
    if key not in _BG_CACHE:
        _BG_CACHE[key] = _backgrounds(root)
    pool = _BG_CACHE[key]
    w, h = size
    parts, have = [], 0
    while have < w:
        bg = pool[int(rng.integers(len(pool)))]
        bh, bw = bg.shape[:2]
        part = cv2.resize(bg, (round(bw * h / bh), h), interpolation=cv2.INTER_LINEAR)
        parts.append(part[:, ::-1] if rng.random() < 0.5 else part)
        have += part.shape[1]
    return np.ascontiguousarray(np.concatenate(parts, axis=1)[:, :w])


def _placed(sample, rng, root: Path, f: float, size=FRAME):
    from pipelines.evaluation.metrics import Sample

    small = _scaled(sample, f)
    frame = background(root, rng, size)
    h, w = small.image.shape[:2]
    fw, fh = size
    x0, y0 = int(rng.integers(0, fw - w + 1)), int(rng.integers(0, fh - h + 1))
    frame[y0:y0 + h, x0:x0 + w] = small.image
    return Sample(sample.name, frame, small.corners + np.array([x0, y0], np.float32), sample.texts)


def in_frame(sample, rng, root: Path):
    h, w = sample.image.shape[:2]
    return _placed(sample, rng, root, min(1.0, FRAME[1] / h, FRAME[0] / w))


def _plate_width(sample) -> float:
    c = np.asarray(sample.corners, np.float32).reshape(-1, 4, 2)[0]
    return float(np.linalg.norm(c[1] - c[0]))


def far(sample, rng, root: Path, widths=FAR_WIDTH):
    return _placed(sample, rng, root, rng.uniform(*widths) / _plate_width(sample))


def photo(sample, rng, root: Path, widths=PHOTO_WIDTH, size=PHOTO):
    h, w = sample.image.shape[:2]
    f = min(rng.uniform(*widths) / _plate_width(sample), size[1] / h, size[0] / w)
    return _placed(sample, rng, root, f, size)


def vga(sample, rng, root: Path):
    return photo(sample, rng, root, VGA_WIDTH, VGA)


MAKERS: dict[str, Callable] = {"half": half, "third": third, "mblur": mblur, "glare": glare, "dark": dark,
                               "frame": in_frame, "far": far, "photo": photo, "vga": vga}
NEEDS_ROOT = {"frame", "far", "photo", "vga"}


def stressed(variant: str, samples: Iterable, root: Path) -> Iterator:
    """The Samples made harder by MAKERS[variant], each from its own seeded generator."""
    make = MAKERS[variant]
    for s in samples:
        rng = rng_for("stress", variant, s.name)
        yield make(s, rng, root) if variant in NEEDS_ROOT else make(s, rng)


# ---------------------------------------------------------------- real scenes (labels.csv)

def _readable(plates: str) -> bool:
    from alprd.model.charset import encode

    try:
        for p in plates.split("|"):
            encode(p)
    except ValueError:
        return False
    return True


def scene_rows(root: Path, two_row: bool | None = None, kinds=("scene", "two_row")) -> list[dict]:
    """real_scenes_cn/labels.csv rows of the given kinds (the CCPD text-only rows are CCPD, left
    out), optionally only two-row plates (two_row=True) or only one-row ones (False). Plates with
    a character outside the model's charset (embassy 使, military, agricultural) are left out:
    no layout the project reads."""
    path = root / "real_scenes_cn" / "labels.csv"
    with open(path, encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["kind"] in kinds and _readable(r["plates"])]
    if two_row is not None:
        rows = [r for r in rows if (r["two_row"] == "yes") == two_row]
    return rows


def scenes(root: Path, two_row: bool | None, limit: int | None = None) -> Iterator[Scene]:
    from alprd.imageio import read_image

    for r in scene_rows(root, two_row)[:limit]:
        yield Scene(Path(r["path"]).name, read_image(root / r["path"]), tuple(r["plates"].split("|")))


# ---------------------------------------------------------------- scoring and registration

JUNK_EDITS = 2      # a read this close to a labelled plate is that plate, misread; farther is junk


def edits(a: str, b: str) -> int:
    """Levenshtein distance."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def evaluate_labelled(recognizer, items: Iterable[Scene]) -> dict:
    """Real scenes labelled by text only: a plate counts as read when some read of its image
    equals it; a reported read more than JUNK_EDITS edits from every plate of its image is junk
    (an upper bound: an unlabelled plate in the background counts as junk too)."""
    import time

    plates = read = reported = junk = 0
    seconds, rows = 0.0, []
    for sc in items:
        t0 = time.perf_counter()
        reads = recognizer.recognize([sc.image])[0]
        seconds += time.perf_counter() - t0
        texts = [r.text for r in reads]
        plates += len(sc.texts)
        read += sum(t in texts for t in sc.texts)
        reported += len(reads)
        bad = [t for t in texts if min(edits(t, p) for p in sc.texts) > JUNK_EDITS]
        junk += len(bad)
        rows.append({"image": sc.name, "label": " ".join(sc.texts), "reads": texts, "junk": bad,
                     "det_conf": [round(r.det_conf, 3) for r in reads]})
    n = len(rows)
    return {"scenes": n, "labelled": plates, "plates": plates, "plates_read": read,
            "read_acc": round(read / plates, 4) if plates else None,
            "reported": reported, "junk": junk, "junk_frac": round(junk / reported, 4) if reported else 0.0,
            "ms_per_image": round(1000 * seconds / n, 2) if n else None, "reads": rows}


def _register() -> None:
    from pipelines.evaluation.metrics import EVALUATORS
    from pipelines.evaluation.sets import _ccpd_all, register

    EVALUATORS.setdefault("labelled", evaluate_labelled)
    for variant, what in (("half", "shrunk to 1/2"), ("third", "shrunk to 1/3"),
                          ("mblur", f"{MBLUR_PX}-px horizontal motion blur"), ("glare", "headlight glare"),
                          ("dark", "low light"), ("frame", "placed in a 1920x1080 frame"),
                          ("far", "shrunk to 25-45-px plates in a 1920x1080 frame"),
                          ("photo", "shrunk to 40-80-px plates in a 1024x768 frame"),
                          ("vga", "shrunk to 28-48-px plates in a 640x480 frame")):
        def load(root, folder, limit, val_only, variant=variant):
            return stressed(variant, _ccpd_all(root, folder, limit, val_only), root)
        register(f"ccpd_{variant}", "scenes", f"CCPD blue + green {what} (pipelines.stress), end to end")(load)
    register("street_dev", "labelled", "real_scenes_cn one-row scenes (not CCPD), read-anywhere, junk",
             splits=False)(lambda root, limit: scenes(root, False, limit))
    register("two_row_dev", "labelled", "real_scenes_cn two-row plates, read-anywhere, junk",
             splits=False)(lambda root, limit: scenes(root, True, limit))


_register()
