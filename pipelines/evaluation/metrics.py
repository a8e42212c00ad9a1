"""Scoring a recognizer on evaluation items: pure metric helpers and one loop per set kind.

The paper's rule: an image is correct only if a detection's bounding rectangle has IoU >= 0.5 with
the GT plate's bounding rectangle AND all its characters are right (with several plates in an
image, every one of them). Crop sets run RSNet alone (exact reads); jittered sets read each plate
from its annotated corners moved as DSNet's err; `reads` sets only know a label per image.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

IOU_MATCH = 0.5


@dataclass(frozen=True)
class Sample:
    """One evaluation image: full-resolution BGR frame, GT quads (K×4×2 frame px), GT texts."""

    name: str
    image: np.ndarray
    corners: np.ndarray
    texts: tuple[str, ...]


def rect_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the axis-aligned bounding rectangles of two quads (4×2)."""
    ax0, ay0 = a.min(0)
    ax1, ay1 = a.max(0)
    bx0, by0 = b.min(0)
    bx1, by1 = b.max(0)
    iw, ih = max(0.0, min(ax1, bx1) - max(ax0, bx0)), max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return float(inter / union) if union > 0 else 0.0


def match(gt: np.ndarray, det: np.ndarray, scores: np.ndarray | None = None) -> list[int]:
    """Greedy one-to-one matching (highest IoU first): for each GT quad, the matched detection's
    index or -1."""
    pairs = sorted(((rect_iou(g, d), i, j) for i, g in enumerate(gt) for j, d in enumerate(det)), reverse=True)
    out, used = [-1] * len(gt), set()
    for iou, i, j in pairs:
        if iou < IOU_MATCH:
            break
        if out[i] < 0 and j not in used:
            out[i] = j
            used.add(j)
    return out


def align(gt: str, pred: str) -> list[tuple[str, str]]:
    """Levenshtein alignment → (gt char or '', pred char or '') pairs; '' marks a gap."""
    n, m = len(gt), len(pred)
    d = np.zeros((n + 1, m + 1), np.int32)
    d[:, 0], d[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (gt[i - 1] != pred[j - 1]))
    pairs, i, j = [], n, m
    while i or j:
        if i and j and d[i, j] == d[i - 1, j - 1] + (gt[i - 1] != pred[j - 1]):
            pairs.append((gt[i - 1], pred[j - 1]))
            i, j = i - 1, j - 1
        elif i and d[i, j] == d[i - 1, j] + 1:
            pairs.append((gt[i - 1], ""))
            i -= 1
        else:
            pairs.append(("", pred[j - 1]))
            j -= 1
    return pairs[::-1]


class TextStats:
    """Accumulates reads of GT texts: exact, per character, province vs rest, kind, confusions."""

    def __init__(self):
        self.n = self.exact = 0
        self.chars = self.char_ok = 0
        self.prov = self.prov_ok = self.rest = self.rest_ok = 0
        self.kind = {"blue7": [0, 0], "green8": [0, 0]}
        self.confusions: Counter = Counter()

    def add(self, gt: str, pred: str | None) -> None:
        pred = pred or ""
        self.n += 1
        self.exact += gt == pred
        kind = self.kind.setdefault("green8" if len(gt) == 8 else "blue7" if len(gt) == 7 else f"len{len(gt)}", [0, 0])
        kind[0] += 1
        kind[1] += gt == pred
        pos = 0
        for g, p in align(gt, pred):
            if not g:                                  # an inserted character: an error, no GT slot
                self.confusions[("∅", p)] += 1
                continue
            ok = g == p
            self.chars += 1
            self.char_ok += ok
            if pos == 0:
                self.prov += 1
                self.prov_ok += ok
            else:
                self.rest += 1
                self.rest_ok += ok
            if not ok:
                self.confusions[(g, p or "∅")] += 1
            pos += 1

    def as_dict(self, top: int = 15) -> dict:
        r = lambda a, b: round(a / b, 4) if b else None  # noqa: E731
        return {
            "plates": self.n,
            "exact_acc": r(self.exact, self.n),
            "char_acc": r(self.char_ok, self.chars),
            "province_acc": r(self.prov_ok, self.prov),
            "rest_char_acc": r(self.rest_ok, self.rest),
            "by_kind": {k: {"plates": v[0], "acc": r(v[1], v[0])} for k, v in self.kind.items() if v[0]},
            "confusions": [{"gt": g, "pred": p, "count": c} for (g, p), c in self.confusions.most_common(top)],
        }


def evaluate_scenes(recognizer, samples: Iterable[Sample]) -> dict:
    """End-to-end evaluation of full frames through Recognizer.recognize (one frame per call, so
    the time is the per-image latency of the serving path)."""
    images = images_ok = tp = fp = fn = 0
    rec = TextStats()        # reads of correctly detected plates
    allp = TextStats()       # reads of every GT plate ("" when missed): e2e per-character view
    seconds = 0.0
    failures: list[dict] = []
    for s in samples:
        t0 = time.perf_counter()
        reads = recognizer.recognize([s.image])[0]
        seconds += time.perf_counter() - t0
        det = np.array([r.corners for r in reads], np.float32).reshape(-1, 4, 2)
        m = match(np.asarray(s.corners, np.float32).reshape(-1, 4, 2), det)
        ok = True
        for gt_text, j in zip(s.texts, m):
            pred = reads[j].text if j >= 0 else None
            if j >= 0:
                rec.add(gt_text, pred)
            allp.add(gt_text, pred)
            ok &= pred == gt_text
        matched = sum(j >= 0 for j in m)
        tp, fn, fp = tp + matched, fn + len(m) - matched, fp + len(reads) - matched
        images += 1
        images_ok += ok
        if not ok and len(failures) < 50:
            failures.append({"image": s.name, "gt": list(s.texts), "reads": [r.text for r in reads],
                             "detected": [j >= 0 for j in m]})
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {
        "images": images,
        "e2e_acc": round(images_ok / images, 4) if images else None,
        "det_precision": round(p, 4), "det_recall": round(r, 4),
        "det_f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "rec_acc_on_detected": rec.as_dict()["exact_acc"],
        "recognition": rec.as_dict(),
        "end_to_end_chars": {k: v for k, v in allp.as_dict().items() if k in ("char_acc", "province_acc", "rest_char_acc", "by_kind")},
        "ms_per_image": round(1000 * seconds / images, 2) if images else None,
        "failures": failures,
    }


def prepare_crop(image: np.ndarray) -> np.ndarray:
    """A real plate crop (any size, already tight) → the recogniser's 144×48 input, rectified by
    geometry.warp_plate from the image's own corners: the same resampling serving applies to a
    detected plate and pipelines.datasets.CropDataset to the training crops."""
    from alprd.model.geometry import warp_plate

    h, w = image.shape[:2]
    return warp_plate(image, np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32))


def evaluate_crops(recognizer, crops: Iterable[tuple[str, np.ndarray, str]], batch: int = 64) -> dict:
    """RSNet alone on tight plate crops: (name, BGR image, text) → exact-read accuracy etc."""
    stats = TextStats()
    seconds, n, failures = 0.0, 0, []
    buf: list = []

    def flush():
        nonlocal seconds, n
        t0 = time.perf_counter()
        reads = recognizer.read([prepare_crop(im) for _, im, _ in buf])
        seconds += time.perf_counter() - t0
        for (name, _, text), (pred, _) in zip(buf, reads):
            stats.add(text, pred)
            if pred != text and len(failures) < 50:
                failures.append({"image": name, "gt": text, "read": pred})
        n += len(buf)
        buf.clear()

    for item in crops:
        buf.append(item)
        if len(buf) >= batch:
            flush()
    if buf:
        flush()
    out = stats.as_dict()
    out.update(crops=n, ms_per_crop=round(1000 * seconds / n, 3) if n else None, failures=failures)
    return out


def evaluate_reads(recognizer, items: Iterable[tuple[str, np.ndarray, str | None]]) -> dict:
    """Real scenes without corner labels (real_scenes_cn): an image counts as read when any read
    equals its label; every image's reads are listed (unlabelled ones only listed)."""
    n = ok = 0
    seconds, reads_out = 0.0, []
    for name, image, label in items:
        t0 = time.perf_counter()
        reads = recognizer.recognize([image])[0]
        seconds += time.perf_counter() - t0
        texts = [r.text for r in reads]
        if label:
            n += 1
            ok += label in texts
        reads_out.append({"image": name, "label": label, "reads": texts,
                          "det_conf": [round(r.det_conf, 3) for r in reads]})
    count = len(reads_out)
    return {"scenes": count, "labelled": n, "read_acc": round(ok / n, 4) if n else None,
            "ms_per_image": round(1000 * seconds / count, 2) if count else None, "reads": reads_out}


# DSNet's corner error on dev images it never trained on (CCPD dev validation slice, shipped
# weights): per-corner standard deviation about 5 % of the plate's width along it and 11 % of its
# height across it. The jittered sets read each plate from its annotated corners moved that much.
JITTER_SIGMA = (0.05, 0.11)
JITTER_DRAWS = 10


def jitter_quad(corners: np.ndarray, rng: np.random.Generator, sigma=JITTER_SIGMA) -> np.ndarray:
    """Each corner moved by Gaussian noise along the plate's top edge (σ = sigma[0] × its width)
    and across it (σ = sigma[1] × its height), as a detector's corners err."""
    c = np.asarray(corners, np.float32)
    along = c[1] - c[0]
    width = float(np.linalg.norm(along)) + 1e-6
    along /= width
    height = float(np.linalg.norm(c[3] - c[0]))
    across = np.array([-along[1], along[0]], np.float32)
    a = rng.normal(0.0, sigma[0] * width, (4, 1))
    b = rng.normal(0.0, sigma[1] * height, (4, 1))
    return (c + a * along + b * across).astype(np.float32)


def evaluate_jittered(recognizer, samples: Iterable[Sample], draws: int = JITTER_DRAWS, seed: int = 0) -> dict:
    """Each plate read `draws` times from its annotated corners jittered like DSNet's
    (jitter_quad; seeded, so every run reads the same quads) through Recognizer.read_at, which
    reads as the cascade reads a detected plate: how well reading survives the detector's
    corner error, on more cases than the scenes themselves give."""
    rng = np.random.default_rng(seed)
    stats = TextStats()
    seconds, n, failures = 0.0, 0, []
    for s in samples:
        for corners, text in zip(np.asarray(s.corners, np.float32).reshape(-1, 4, 2), s.texts):
            quads = [(0, jitter_quad(corners, rng)) for _ in range(draws)]
            t0 = time.perf_counter()
            reads = recognizer.read_at([s.image], quads)
            seconds += time.perf_counter() - t0
            for pred, _ in reads:
                stats.add(text, pred)
                if pred != text and len(failures) < 50:
                    failures.append({"image": s.name, "gt": text, "read": pred})
            n += draws
    out = stats.as_dict()
    out.update(reads=n, ms_per_read=round(1000 * seconds / n, 3) if n else None, failures=failures)
    return out


EVALUATORS = {"scenes": evaluate_scenes, "crops": evaluate_crops, "reads": evaluate_reads,
              "jittered": evaluate_jittered}
"""Set kind -> the loop that scores its items (pipelines.evaluation.sets registers sets by kind)."""
