"""One Tracker per camera, in the main process, so tracks survive an inference-worker restart.

The router hands each FrameResult to its camera's tracker, ages out the tracks of a camera that
has stopped sending frames when told to (a dead stream must still end its tracks; only the
caller knows whether a camera is silent or its frames are merely still being inferred), flushes
every track on an orderly stop. Each event carries its best read's crop (crop_jpeg); storing it
is the main process's job (alprd.service.crops), so tracking never touches storage.
"""
from __future__ import annotations

from alprd.config import TrackingConfig
from alprd.events import FrameResult, PlateEvent
from alprd.track.tracker import Tracker


class TrackRouter:
    def __init__(self, camera_ids: list[str], cfg: TrackingConfig,
                 inward: dict[str, tuple[float, float]] | None = None) -> None:
        self.cfg = cfg
        self.inward = dict(inward or {})  # camera -> its unit "in" vector (events' travel)
        self.trackers = {cid: Tracker(cid, cfg, id_start=1, inward=self.inward.get(cid)) for cid in camera_ids}

    @property
    def open_tracks(self) -> int:
        return sum(t.open_tracks for t in self.trackers.values())

    def update(self, result: FrameResult) -> list[PlateEvent]:
        tracker = self.trackers.get(result.camera_id)
        if tracker is None:
            raise KeyError(f"no tracker for camera {result.camera_id!r}")
        return tracker.update(result)

    def moved(self, camera_id: str, timestamp: float) -> None:
        """The camera's motion gate let a frame through because its scene changed (Tracker.moved)."""
        tracker = self.trackers.get(camera_id)
        if tracker is not None:
            tracker.moved(timestamp)

    def still(self, camera_id: str, timestamp: float, seq: int | None = None) -> None:
        """A frame of the camera the motion gate found unchanged (Tracker.still)."""
        tracker = self.trackers.get(camera_id)
        if tracker is not None:
            tracker.still(timestamp, seq)

    def open_tracks_of(self, camera_id: str) -> int:
        return self.trackers[camera_id].open_tracks

    def expire(self, camera_id: str, stream_now: float) -> list[PlateEvent]:
        """End the camera's tracks unseen for more than max_unseen_s at `stream_now` (the
        camera's own clock). Call it only for a camera with no frames waiting or in flight."""
        tracker = self.trackers[camera_id]
        if not tracker.open_tracks:
            return []
        return tracker.expire(stream_now)

    def add_camera(self, camera_id: str) -> None:
        """A camera added by a configuration reload: a fresh tracker (track ids from 1)."""
        if camera_id not in self.trackers:
            self.trackers[camera_id] = Tracker(camera_id, self.cfg, id_start=1, inward=self.inward.get(camera_id))

    def remove_camera(self, camera_id: str) -> list[PlateEvent]:
        """A camera removed by a reload: its open tracks become final events, its tracker goes.
        Call it only once none of its frames wait or are in flight."""
        tracker = self.trackers.pop(camera_id, None)
        if tracker is None:
            return []
        return tracker.flush()

    def flush(self) -> list[PlateEvent]:
        """Every open track of every camera becomes a final event (orderly shutdown)."""
        events: list[PlateEvent] = []
        for tracker in self.trackers.values():
            events += tracker.flush()
        return events
