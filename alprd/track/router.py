"""One Tracker per camera, in the main process, so tracks survive an inference-worker restart.

The router hands each FrameResult to its camera's tracker, ages out tracks of cameras that have
stopped sending frames (a dead stream must still end its tracks), flushes every track on an
orderly stop, and attaches the saved crop of each final event (CropStore) before it goes out.
"""
from __future__ import annotations

import time

from alprd.config import TrackingConfig
from alprd.events import FrameResult, PlateEvent
from alprd.service.crops import CropStore
from alprd.track.tracker import Tracker


class TrackRouter:
    def __init__(self, camera_ids: list[str], cfg: TrackingConfig, crops: CropStore | None = None) -> None:
        self.cfg = cfg
        self.crops = crops
        self.trackers = {cid: Tracker(cid, cfg, id_start=1) for cid in camera_ids}
        # camera -> (stream timestamp of its latest frame, monotonic time it arrived)
        self._last: dict[str, tuple[float, float]] = {}

    @property
    def open_tracks(self) -> int:
        return sum(t.open_tracks for t in self.trackers.values())

    def update(self, result: FrameResult, *, arrived: float | None = None) -> list[PlateEvent]:
        tracker = self.trackers.get(result.camera_id)
        if tracker is None:
            raise KeyError(f"no tracker for camera {result.camera_id!r}")
        self._last[result.camera_id] = (result.timestamp, time.monotonic() if arrived is None else arrived)
        return self._with_crops(tracker, tracker.update(result))

    def expire_idle(self, now: float | None = None) -> list[PlateEvent]:
        """End tracks of cameras silent for longer than max_unseen_s (on the camera's own clock,
        advanced by the time elapsed here since its last frame)."""
        now = time.monotonic() if now is None else now
        events: list[PlateEvent] = []
        for cid, (ts, seen) in self._last.items():
            tracker = self.trackers[cid]
            if tracker.open_tracks and now - seen > self.cfg.max_unseen_s:
                events += self._with_crops(tracker, tracker.expire(ts + (now - seen)))
        return events

    def flush(self) -> list[PlateEvent]:
        """Every open track of every camera becomes a final event (orderly shutdown)."""
        events: list[PlateEvent] = []
        for tracker in self.trackers.values():
            events += self._with_crops(tracker, tracker.flush())
        return events

    def _with_crops(self, tracker: Tracker, events: list[PlateEvent]) -> list[PlateEvent]:
        if self.crops is None:
            return events
        return [self.crops.attach(e, tracker.take_crop(e.event_id)) if e.kind == "plate.final" else e
                for e in events]
