"""The batched SLPNet cascade: frames in, plate reads out.

detect (DSNet on a letterboxed view) → corners back to frame pixels → perspective warp out of the
full-resolution frame → read every plate of the batch in one RSNet call → CTC greedy decode.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from alprd.events import PlateRead, as_corners
from alprd.model import geometry
from alprd.model.decode import ctc_greedy_batch
from alprd.model.weights import build_models

log = logging.getLogger(__name__)


class Recognizer:
    def __init__(self, weights: str | None = None, device: str = "auto", det_size: int = 512,
                 det_threshold: float = 0.5, nms_threshold: float = 0.3, z: float = geometry.Z_DEFAULT,
                 crops: bool = False, threads: int = 0, backend: str = "auto"):
        if det_size % 32:
            raise ValueError(f"det_size must be a multiple of 32, got {det_size}")
        if threads:
            torch.set_num_threads(threads)
        dsnet, rsnet, self.meta = build_models(weights)
        self.trained = bool(self.meta.get("trained"))
        self.det_size = det_size
        self.det_threshold = det_threshold
        self.nms_threshold = nms_threshold
        self.z = z
        self.crops = crops
        self.backend = make_backend(backend, dsnet, rsnet, device, det_size, threads)

    # ------------------------------------------------------------------ stages
    def detect(self, frames: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per frame: (corners K×4×2 in frame pixels, confidences K), after NMS."""
        if not frames:
            return []
        views, boxes = zip(*(geometry.letterbox(_as_bgr(f), self.det_size) for f in frames))
        out = self.backend.detect(geometry.normalize(np.stack(views)))
        results = []
        for o, lb in zip(out, boxes):
            corners, conf = geometry.decode_map(o, self.det_threshold, self.z)
            keep = geometry.nms_quads(corners, conf, self.nms_threshold)
            results.append((lb.to_frame(corners[keep]), conf[keep]))
        return results

    def read(self, plates_bgr: Sequence[np.ndarray]) -> list[tuple[str, tuple[float, ...]]]:
        """Rectified plate crops (48×144 BGR) → (text, per-char confidences) each."""
        if not plates_bgr:
            return []
        return ctc_greedy_batch(self.backend.read(geometry.normalize(np.stack(plates_bgr))))

    # ------------------------------------------------------------------ cascade
    def recognize(self, frames: Sequence[np.ndarray]) -> list[list[PlateRead]]:
        frames = [_as_bgr(f) for f in frames]
        detections = self.detect(frames)
        crops, owners = [], []
        for i, (frame, (corners, _)) in enumerate(zip(frames, detections)):
            for c in corners:
                crops.append(geometry.warp_plate(frame, c))
                owners.append(i)
        texts = self.read(crops)
        results: list[list[PlateRead]] = [[] for _ in frames]
        k = 0
        for i, (corners, confs) in enumerate(detections):
            for c, conf in zip(corners, confs):
                text, char_confs = texts[k]
                jpeg = _crop_jpeg(frames[i], c) if self.crops else None
                results[i].append(PlateRead(as_corners(c), float(conf), text, char_confs, jpeg))
                k += 1
        return results


def make_backend(name: str, dsnet, rsnet, device: str, det_size: int, threads: int):
    """`auto`: ONNX Runtime on CPU (2–3× faster than eager torch there), torch on CUDA."""
    from alprd.backends import onnx_backend
    from alprd.backends.torch_backend import TorchBackend, pick_device

    if name not in ("auto", "torch", "onnxruntime"):
        raise ValueError(f"unknown inference backend {name!r}")
    on_cpu = pick_device(device).type == "cpu"
    if name == "onnxruntime" or (name == "auto" and on_cpu and onnx_backend.available()):
        if not on_cpu:
            raise ValueError("the onnxruntime backend runs on the CPU; use backend torch for CUDA")
        return onnx_backend.OnnxBackend(dsnet, rsnet, det_size, threads)
    return TorchBackend(dsnet, rsnet, device)


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    """Accept grayscale and BGRA too: cameras and files deliver all three."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be 8-bit, got {frame.dtype}")
    return frame


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
