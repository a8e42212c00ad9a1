"""Scripted detections for the tracker tests: plain PlateRead/FrameResult objects."""
from __future__ import annotations

from alprd.events import FrameResult, PlateRead


def read(x: float, y: float, text: str = "ABC1234", conf: float = 0.95, det: float = 0.9,
         w: float = 100.0, h: float = 30.0, crop: bytes | None = None, char_confs=None) -> PlateRead:
    """A plate whose box has its top-left at (x, y)."""
    corners = ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
    confs = tuple(char_confs) if char_confs is not None else (conf,) * len(text)
    return PlateRead(corners=corners, det_conf=det, text=text, char_confs=confs, crop_jpeg=crop)


def frame(ts: float, *reads: PlateRead, camera: str = "cam1", seq: int = 0) -> FrameResult:
    return FrameResult(camera_id=camera, seq=seq, timestamp=ts, width=1920, height=1080, reads=tuple(reads))
