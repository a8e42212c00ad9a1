"""Types that cross process boundaries, and the one JSON encoding every sink uses.

All are frozen dataclasses of plain values so they pickle cheaply between processes and can be
rebuilt from JSON. Corners are ((x, y) * 4) in full-frame pixels, clockwise from top-left.
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

SCHEMA_VERSION = 1

Corners = tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]]


def as_corners(points) -> Corners:
    """Normalise any 4×2 sequence (list, ndarray) to a tuple of float pairs."""
    pts = [(float(p[0]), float(p[1])) for p in points]
    if len(pts) != 4:
        raise ValueError(f"a plate has 4 corners, got {len(pts)}")
    return tuple(pts)  # type: ignore[return-value]


def corners_bbox(corners: Corners) -> tuple[float, float, float, float]:
    xs = [p[0] for p in corners]
    ys = [p[1] for p in corners]
    return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class PlateRead:
    """One plate found in one frame."""

    corners: Corners
    det_conf: float
    text: str
    char_confs: tuple[float, ...]
    # JPEG bytes of the rectified plate, so the tracker can keep the best read's crop without the
    # frame; excluded from equality and repr to keep both cheap.
    crop_jpeg: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return corners_bbox(self.corners)

    @property
    def text_conf(self) -> float:
        """Confidence of the whole string: the weakest character decides."""
        return min(self.char_confs) if self.char_confs else 0.0


@dataclass(frozen=True)
class FrameResult:
    """Everything the cascade found in one frame of one camera."""

    camera_id: str
    seq: int
    timestamp: float  # seconds since the epoch (UTC), from the stream's own clock when it has one
    width: int
    height: int
    reads: tuple[PlateRead, ...] = ()


@dataclass(frozen=True)
class Alternative:
    plate: str
    score: float


@dataclass(frozen=True)
class PlateEvent:
    """One vehicle's plate, as published to every sink."""

    kind: str  # "plate.preview" | "plate.final"
    camera_id: str
    track_id: int
    plate: str
    confidence: float
    first_seen: datetime
    last_seen: datetime
    reads: int
    alternatives: tuple[Alternative, ...] = ()
    direction: str = "unknown"  # up | down | left | right | stationary | unknown (image motion)
    travel: str = "unknown"  # in | out | unknown: the motion against the camera's configured "in"
    parked: bool = False
    corners: Corners | None = None
    crop_path: str | None = None
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    schema_version: int = SCHEMA_VERSION
    # The JPEG of the track's best read, as the tracker hands it on; in-process only (never
    # serialised): the main process stores it and sets crop_path before the fan-out.
    crop_jpeg: bytes | None = field(default=None, compare=False, repr=False)

    KINDS = ("plate.preview", "plate.final")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")

    @property
    def topic(self) -> str:
        return f"{self.kind}.{self.camera_id}"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        del d["crop_jpeg"]
        d["first_seen"] = _iso(self.first_seen)
        d["last_seen"] = _iso(self.last_seen)
        d["corners"] = [list(p) for p in self.corners] if self.corners else None
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PlateEvent":
        d = dict(d)
        d["first_seen"] = _parse_time(d["first_seen"])
        d["last_seen"] = _parse_time(d["last_seen"])
        d["alternatives"] = tuple(Alternative(**a) for a in d.get("alternatives") or ())
        d["corners"] = as_corners(d["corners"]) if d.get("corners") else None
        return cls(**d)

    @classmethod
    def from_json(cls, s: str | bytes) -> "PlateEvent":
        return cls.from_dict(json.loads(s))


def utc_from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _parse_time(s: str | datetime) -> datetime:
    if isinstance(s, datetime):
        return s
    return datetime.fromisoformat(s.replace("Z", "+00:00")).astimezone(timezone.utc)
