"""The cascade's pre- and post-processing on the host, in numpy, without per-pixel Python.

Each function computes what its reference in alprd.model.geometry / alprd.model.decode computes
(the tests compare them), only in fewer, larger steps:
- ``Letterboxer``: frames resized straight into one preallocated uint8 batch (no canvas per frame,
  no np.stack, only the padding bands filled), same pixels as geometry.letterbox;
- ``decode_batch``: the score threshold over the whole batch in one vectorised step, so the rest
  only ever sees the cells that passed (geometry.decode_map per frame);
- ``nms_quads``: greedy quadrilateral NMS with each quad's hull and area computed once and the
  bounding-box pre-test done for all candidates at once (geometry.nms_quads redoes both per pair);
- ``warp_plates``: every plate of a batch warped into one preallocated uint8 array;
- ``ctc_decode``: greedy CTC for all rows at once (decode.ctc_greedy_batch loops per step);
  ``read_plates``: that, then the plate-format repair, as the recogniser serves reads.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from alprd.model import geometry
from alprd.model.charset import BLANK, CHARS
from alprd.model.dsnet import STRIDE
from alprd.model.plate_format import conform


class Letterboxer:
    """Letterboxes a list of frames into a reused N×H×W×3 uint8 buffer (geometry.letterbox's
    policy: aspect kept, centred, geometry.resize, PAD_VALUE grey). The view is S×S, or with
    `tight` geometry.view_shape of the frames (which must then share a shape: the caller groups).

    The returned batch is a view of the buffer: valid until the next call."""

    def __init__(self, size: int, tight: bool = False):
        self.size = size
        self.tight = tight
        self._bufs: dict[tuple[int, int], np.ndarray] = {}

    def view_shape(self, frame: np.ndarray) -> tuple[int, int]:
        if not self.tight:
            return self.size, self.size
        return geometry.view_shape(frame.shape[1], frame.shape[0], self.size)

    def __call__(self, frames: Sequence[np.ndarray]) -> tuple[np.ndarray, list[geometry.Letterbox]]:
        n = len(frames)
        vh, vw = self.view_shape(frames[0]) if n else (self.size, self.size)
        buf = self._bufs.get((vh, vw))
        have = 0 if buf is None else len(buf)
        if have < n:
            buf = self._bufs[(vh, vw)] = np.empty((max(n, 2 * have), vh, vw, 3), np.uint8)
        batch = buf[:n]
        boxes = [letterbox_into(f, batch[i], self.size) for i, f in enumerate(frames)]
        return batch, boxes


def letterbox_into(image: np.ndarray, canvas: np.ndarray, size: int | None = None) -> geometry.Letterbox:
    """geometry.letterbox (long side `size`, default the canvas's height) written centred into
    `canvas` (H×W×3 uint8, C-contiguous, at least the picture's size)."""
    ch, cw = canvas.shape[:2]
    size = size or ch
    h, w = image.shape[:2]
    scale, nw, nh = geometry.fit(w, h, size)
    px, py = (cw - nw) // 2, (ch - nh) // 2
    if py:
        canvas[:py] = geometry.PAD_VALUE
    if py + nh < ch:
        canvas[py + nh:] = geometry.PAD_VALUE
    if px:
        canvas[py:py + nh, :px] = geometry.PAD_VALUE
    if px + nw < cw:
        canvas[py:py + nh, px + nw:] = geometry.PAD_VALUE
    inner = canvas[py:py + nh, px:px + nw]
    if (nw, nh) == (w, h):
        np.copyto(inner, image)
    else:
        out = geometry.resize(image, (nw, nh), dst=inner)
        if out is not inner and not np.shares_memory(out, inner):   # OpenCV declined the strided dst
            np.copyto(inner, out)
    return geometry.Letterbox(scale, px, py)


_CENTRES: dict[tuple[int, int], np.ndarray] = {}


def _centres(h: int, w: int) -> np.ndarray:
    c = _CENTRES.get((h, w))
    if c is None:
        c = _CENTRES[(h, w)] = geometry.cell_centres(h, w, STRIDE)
    return c


def decode_batch(maps: np.ndarray, threshold: float, z: float = geometry.Z_DEFAULT
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """DSNet outputs B×12×h×w (scores already sigmoid) → per frame (corners K×4×2 in view pixels,
    confidences K) of the cells whose mean corner score passes `threshold`."""
    b, _, h, w = maps.shape
    conf = maps[:, :4].mean(axis=1)                       # B×h×w
    bi, ys, xs = np.nonzero(conf >= threshold)
    empty = (np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32))
    if len(bi) == 0:
        return [empty] * b
    t = maps[bi, 4:, ys, xs]                              # K×8
    corners = geometry.decode_offsets(t, _centres(h, w)[ys, xs], z).astype(np.float32)
    scores = conf[bi, ys, xs].astype(np.float32)
    bounds = np.searchsorted(bi, np.arange(b + 1))       # np.nonzero returns bi sorted
    return [(corners[bounds[i]:bounds[i + 1]], scores[bounds[i]:bounds[i + 1]]) if bounds[i + 1] > bounds[i]
            else empty for i in range(b)]


# ---------------------------------------------------------------- NMS


def nms_quads(corners: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3,
              max_keep: int = 32) -> list[int]:
    """geometry.nms_quads, same result (greedy by score, OpenCV's IoU of convex hulls, kept
    indices best first), with each quad's hull and area made at most once instead of once per
    pair. Like the reference it stops at max_keep, so a noisy map costs O(candidates × kept).

    (A fully vectorised polygon-clipping IoU was measured too: numpy's fixed cost per call made
    it slower than this for every candidate count a detector produces.)"""
    n = len(scores)
    if n <= 1:
        return list(range(n))
    order = np.argsort(-scores, kind="stable")
    quads = np.asarray(corners, np.float32)[order]
    boxes = np.concatenate((quads.min(axis=1), quads.max(axis=1)), axis=1).tolist()
    hulls: list = [None] * n

    def hull(k: int):
        if hulls[k] is None:
            h = cv2.convexHull(quads[k])
            hulls[k] = (h, cv2.contourArea(h))
        return hulls[k]

    kept: list[int] = []      # positions in `order`
    for i in range(n):
        x0, y0, x1, y1 = boxes[i]
        ok = True
        for k in kept:
            kx0, ky0, kx1, ky1 = boxes[k]
            if x0 > kx1 or kx0 > x1 or y0 > ky1 or ky0 > y1:
                continue
            (hi, ai), (hk, ak) = hull(i), hull(k)
            inter, _ = cv2.intersectConvexConvex(hi, hk)
            union = ai + ak - inter
            if union > 0 and inter / union > iou_threshold:
                ok = False
                break
        if ok:
            kept.append(i)
            if len(kept) >= max_keep:
                break
    return [int(order[i]) for i in kept]


# ---------------------------------------------------------------- warp and read


class PlateWarper:
    """Warps plates (frame index, 4×2 corners) into a reused N×48×144×3 uint8 buffer with
    geometry.warp_plate's transform, interpolation and border."""

    def __init__(self, size=geometry.PLATE_SIZE):
        self.size = size
        w, h = size
        self._dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
        self._buf = np.empty((0, h, w, 3), np.uint8)

    def __call__(self, frames: Sequence[np.ndarray], plates: Sequence[tuple[int, np.ndarray]]) -> np.ndarray:
        n = len(plates)
        w, h = self.size
        if len(self._buf) < n:
            self._buf = np.empty((max(n, 2 * len(self._buf), 8), h, w, 3), np.uint8)
        out = self._buf[:n]
        for k, (i, corners) in enumerate(plates):
            m = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), self._dst)
            cv2.warpPerspective(frames[i], m, self.size, dst=out[k], flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE)
        return out


def ctc_decode(logits: np.ndarray) -> list[tuple[str, tuple[float, ...]]]:
    """N×T×C logits → (text, per-char confidence) per row, as decode.ctc_greedy_batch: best class
    per step, runs collapsed, blanks dropped; a character's confidence is the highest softmax
    probability within its run."""
    n, steps, _ = logits.shape
    if n == 0:
        return []
    x = logits.astype(np.float32, copy=False)
    best = x.argmax(axis=2)                                          # N×T
    top = np.take_along_axis(x, best[..., None], axis=2)[..., 0]
    mx = x.max(axis=2, keepdims=True)
    p = (np.exp(top - mx[..., 0]) / np.exp(x - mx).sum(axis=2)).astype(np.float32)
    prev = np.concatenate((np.full((n, 1), BLANK), best[:, :-1]), axis=1)
    starts = (best != BLANK) & (best != prev)                        # the first step of each char
    run_id = np.cumsum(starts, axis=1)                               # char index per step (1-based)
    # a step belongs to its char's run when it repeats that char without a blank in between
    in_run = (best != BLANK) & (run_id > 0)
    out = []
    for r in range(n):
        k = int(run_id[r, -1])
        if k == 0:
            out.append(("", ()))
            continue
        confs = np.zeros(k, np.float32)
        np.maximum.at(confs, run_id[r, in_run[r]] - 1, p[r, in_run[r]])
        out.append(("".join(CHARS[c - 1] for c in best[r, starts[r]].tolist()),
                    tuple(float(c) for c in confs)))
    return out


def read_plates(logits: np.ndarray, plate_format: bool = True) -> list[tuple[str, tuple[float, ...]]]:
    """N×T×C logits → the served reads: ctc_decode, then (plate_format) plate_format.conform."""
    reads = ctc_decode(logits)
    return conform(logits, reads) if plate_format else reads
