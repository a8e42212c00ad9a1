"""The batched SLPNet cascade: frames in, plate reads out.

detect (DSNet on a letterboxed view) → corners back to frame pixels → perspective warp out of the
full-resolution frame → read every plate of the batch in one RSNet call → CTC greedy decode (a
read that fits no plate layout replaced by the best one that does: alprd.model.plate_format) → a
doubtful read read again from wider warps of its quad, the most confident kept (alprd.model.rewarp).

Two implementations of the steps around the nets, chosen by ``prepost``:
- ``host`` (CPU backends): numpy/OpenCV in alprd.backends.prepost: frames letterboxed straight
  into one reused uint8 batch, the nets fed uint8 (normalisation is inside the ONNX graphs), the
  score threshold over the whole batch at once, plates warped into one reused uint8 array.
- ``device`` (torch on CUDA): alprd.backends.torch_prepost: frames uploaded once as uint8, letterbox,
  normalisation, decoding and warp on the device; only candidate quads visit the host (NMS).
``auto`` picks ``device`` exactly when the backend runs on CUDA.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

from alprd.backends import prepost as pp
from alprd.events import PlateRead, as_corners
from alprd.model import geometry, rewarp
from alprd.model.defaults import DET_THRESHOLD, NMS_THRESHOLD
from alprd.model.weights import build_models

log = logging.getLogger(__name__)


class Recognizer:
    """Not thread-safe: one caller at a time (its batch buffers are reused between calls)."""

    def __init__(self, weights: str | None = None, device: str = "auto", det_size: int = 512,
                 det_threshold: float = DET_THRESHOLD, nms_threshold: float = NMS_THRESHOLD, z: float = geometry.Z_DEFAULT,
                 crops: bool = False, threads: int = 0, backend: str = "auto", prepost: str = "auto",
                 plate_format: bool = True, reread: bool = True):
        if det_size % 32:
            raise ValueError(f"det_size must be a multiple of 32, got {det_size}")
        if prepost not in ("auto", "host", "device"):
            raise ValueError(f"prepost must be auto, host or device, got {prepost!r}")
        if threads:
            import torch

            torch.set_num_threads(threads)
        dsnet, rsnet, self.meta = build_models(weights)
        self.trained = bool(self.meta.get("trained"))
        self.det_size = det_size
        self.det_threshold = det_threshold
        self.nms_threshold = nms_threshold
        self.z = z
        self.crops = crops
        self.plate_format = plate_format
        self.reread = reread
        from alprd.backends.select import make_backend

        self.backend = make_backend(backend, dsnet, rsnet, device, det_size, threads)
        on_device = getattr(self.backend, "cuda", False)
        if prepost == "device" and not hasattr(self.backend, "run_dsnet"):
            raise ValueError("prepost 'device' needs the torch backend")
        self.prepost = prepost if prepost != "auto" else ("device" if on_device else "host")
        self._letterbox = pp.Letterboxer(det_size, tight=True)
        self._warper = pp.PlateWarper()

    # ------------------------------------------------------------------ stages
    def detect(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per frame: (corners K×4×2 in frame pixels, confidences K), after NMS."""
        if not len(frames):
            return []
        frames = [_as_bgr(f) for f in frames]
        if self.prepost == "device":
            out = self._detect_device(frames)
            self._device_frames = []          # only recognize() warps them: free the device copies
            return out
        out: list = [None] * len(frames)
        for idx in _groups(frames, self._letterbox.view_shape):  # one detector call per view shape
            batch, boxes = self._letterbox([frames[i] for i in idx])
            cands = pp.decode_batch(self.backend.detect_u8(batch), self.det_threshold, self.z)
            for i, (c, s), lb in zip(idx, cands, boxes):
                out[i] = self._suppress(c, s, lb)
        return out

    def read(self, plates_bgr: Sequence[np.ndarray] | np.ndarray) -> list[tuple[str, tuple[float, ...]]]:
        """Rectified plate crops (48×144 BGR, a list or an N×48×144×3 uint8 array) → (text,
        per-char confidences) each."""
        if not len(plates_bgr):
            return []
        batch = plates_bgr if isinstance(plates_bgr, np.ndarray) else np.stack(plates_bgr)
        return self._decode(self.backend.read_u8(batch))

    def read_at(self, frames: Sequence[np.ndarray], plates: Sequence[tuple[int, np.ndarray]]) -> list[tuple[str, tuple[float, ...]]]:
        """Plates given by (frame index, 4×2 corners in frame pixels, TL TR BR BL) → (text,
        per-char confidences) each: warped out of the frames and read as recognize() reads
        the detector's plates (a doubtful read read again from wider warps, when reread is on)."""
        frames = [_as_bgr(f) for f in frames]
        if self.prepost == "device":
            self._upload(frames)
        return self._read_at(frames, list(plates))

    # ------------------------------------------------------------------ cascade
    def recognize(self, frames: Sequence[np.ndarray]) -> list[list[PlateRead]]:
        frames = [_as_bgr(f) for f in frames]
        if not frames:
            return []
        detections = self._detect_device(frames) if self.prepost == "device" else self.detect(frames)
        plates = [(i, c) for i, (corners, _) in enumerate(detections) for c in corners]
        texts = self._read_at(frames, plates)
        results: list[list[PlateRead]] = [[] for _ in frames]
        k = 0
        for i, (corners, confs) in enumerate(detections):
            for c, conf in zip(corners, confs):
                text, char_confs = texts[k]
                jpeg = _crop_jpeg(frames[i], c) if self.crops else None
                results[i].append(PlateRead(as_corners(c), float(conf), text, char_confs, jpeg))
                k += 1
        return results

    # ------------------------------------------------------------------ helpers
    def _decode(self, logits: np.ndarray) -> list[tuple[str, tuple[float, ...]]]:
        return pp.read_plates(logits, self.plate_format)

    def _suppress(self, corners: np.ndarray, scores: np.ndarray, lb: geometry.Letterbox):
        keep = pp.nms_quads(corners, scores, self.nms_threshold)
        return lb.to_frame(corners[keep]), scores[keep]

    def _detect_device(self, frames: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Frames grouped by shape (cameras of one model share it), one upload and one tight
        letterbox per group, one DSNet call per view shape."""
        import torch

        from alprd.backends import torch_prepost as tp

        be = self.backend
        boxes: list = [None] * len(frames)
        by_frame: list = [None] * len(frames)
        by_view: dict[tuple, list] = {}   # view shape → [(frame indices, views)]
        with torch.inference_mode():
            for idx, up in self._upload(frames):
                view, lb = tp.letterbox(up, self.det_size, tight=True)
                by_view.setdefault(tuple(view.shape[2:]), []).append((idx, view))
                for i in idx:
                    boxes[i] = lb
            for parts in by_view.values():
                views = [v for _, v in parts]
                maps = be.run_dsnet(tp.normalize(torch.cat(views) if len(views) > 1 else views[0]))
                cands = iter(tp.decode_candidates(maps, self.det_threshold, self.z))
                for idx, _ in parts:
                    for i in idx:
                        by_frame[i] = next(cands)
        return [self._suppress(c, s, lb) for (c, s), lb in zip(by_frame, boxes)]

    def _upload(self, frames: list[np.ndarray]) -> list[tuple[list[int], object]]:
        """Frames to the device, kept in _device_frames for the warps: one upload per frame shape
        (the staging buffer is per shape) → [(frame indices, N×H×W×3 uint8 tensor)]."""
        self._device_frames = [None] * len(frames)
        groups = []
        for idx in _groups(frames, lambda f: f.shape):
            up = self.backend.upload([frames[i] for i in idx])
            for j, i in enumerate(idx):
                self._device_frames[i] = up[j]
            groups.append((idx, up))
        return groups

    def _read_at(self, frames, plates) -> list[tuple[str, tuple[float, ...]]]:
        try:
            texts = self._read_quads(frames, plates)
            if self.reread:
                self._reread(frames, plates, texts)
            return texts
        finally:
            self._device_frames = []   # free the device copies of the frames

    def _read_quads(self, frames, plates: list[tuple[int, np.ndarray]]) -> list[tuple[str, tuple[float, ...]]]:
        """(frame index, corners) → reads, in one RSNet call."""
        if not plates:
            return []
        if self.prepost != "device":
            return self.read(self._warper(frames, plates))
        import torch

        from alprd.backends import torch_prepost as tp

        by_frame = _groups(plates, lambda p: p[0])
        with torch.inference_mode():   # one warp per frame, one RSNet call for all
            crops = [tp.warp_plates(self._device_frames[plates[ks[0]][0]],
                                    np.stack([plates[k][1] for k in ks])) for ks in by_frame]
            logits = self.backend.run_rsnet(tp.normalize(torch.cat(crops)))
            reads = self._decode(logits.float().cpu().numpy())
        out: list = [None] * len(plates)
        for k, r in zip((k for ks in by_frame for k in ks), reads):
            out[k] = r
        return out

    def _reread(self, frames, plates, texts) -> None:
        """Doubtful reads (in place) → the most confident of them and their wider warps'."""
        again = rewarp.doubtful(texts)
        if not again:
            return
        m = len(rewarp.MARGINS)
        more = [(plates[k][0], q) for k in again for q in rewarp.grow(plates[k][1])]
        reads = self._read_quads(frames, more)
        for n, k in enumerate(again):
            texts[k] = rewarp.most_confident([texts[k]] + reads[n * m:(n + 1) * m])


def make_backend(name: str, dsnet, rsnet, device: str, det_size: int, threads: int):
    """Kept for callers of the old location; see alprd.backends.select."""
    from alprd.backends.select import make_backend as _make

    return _make(name, dsnet, rsnet, device, det_size, threads)


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    """Accept grayscale and BGRA too: cameras and files deliver all three."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be 8-bit, got {frame.dtype}")
    return frame


def _groups(items: Sequence, key) -> list[list[int]]:
    """Indices of the items (frames, plates) grouped by key(item), in order of first appearance."""
    groups: dict = {}
    for i, f in enumerate(items):
        groups.setdefault(key(f), []).append(i)
    return list(groups.values())


def _crop_jpeg(frame: np.ndarray, corners: np.ndarray, margin: float = 0.25) -> bytes | None:
    """The plate's bounding box with some context, as a human would want to see it."""
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    h, w = frame.shape[:2]
    xa, ya = int(max(0, x0 - mx)), int(max(0, y0 - my))
    xb, yb = int(min(w, x1 + mx)), int(min(h, y1 + my))
    if xb <= xa or yb <= ya:
        return None
    ok, buf = cv2.imencode(".jpg", frame[ya:yb, xa:xb], [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes() if ok else None
