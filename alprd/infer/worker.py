"""The inference worker: batches frames of all cameras through one Recognizer.

Three parts, so each is testable alone:
- ``Batcher``: collects items until max_batch of them are waiting or max_wait has passed since the
  oldest arrived (pure; the clock is passed in).
- ``CameraGeometry`` / ``InferenceEngine``: per camera, crop the region of interest before the
  detector (plates are small in a 1080p frame and the detector sees a 512×512 letterbox), shift
  the corners back to frame pixels, drop reads whose centre lies outside the camera's polygon,
  and build one FrameResult per frame (in-process; no rings, no pipes).
- ``run_worker``: the process body. Frame descriptors arrive from the main process in ``Frames``
  messages; the channel's reader thread copies their frames out of the cameras' shared-memory
  rings as they arrive (a frame already overwritten by its decoder is counted and skipped); one
  ``Results`` message per batch goes back, accounting in its BatchStats for every descriptor
  received, so the main process knows exactly what is in flight. With several lanes (one
  Recognizer per core) alprd.infer.lane_loop runs them instead: each lane reads its own cameras'
  frames as soon as it is free and answers for them alone (no Batcher: no wait for a full batch).

The main process gives the worker at most one batch of frames at a time (max_batch; see
alprd.service.dispatch): frames wait in the main process, where the too old are skipped, not here.

Messages (alprd.messages): in ``Frames``, ``Cameras`` (the camera list after a configuration
reload: ROIs and polygons) and ``Stop``; out ``WorkerReady`` once the model is loaded, then
``Results`` per batch. Any other message is an error (UnknownMessage).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from alprd.config import CameraConfig, InferenceConfig
from alprd.events import FrameResult, PlateRead
from alprd.messages import BatchStats, Cameras, Frames, Handlers, Results, Stop, WorkerReady
from alprd.process.child import FatalChildError

log = logging.getLogger(__name__)


class Batcher:
    """FIFO of pending items; a batch is due at max_batch items or max_wait after the oldest."""

    def __init__(self, max_batch: int, max_wait_s: float) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._items: list[Any] = []
        self._oldest = 0.0

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Any, now: float) -> None:
        if not self._items:
            self._oldest = now
        self._items.append(item)

    def due(self, now: float) -> bool:
        return len(self._items) >= self.max_batch or (
            bool(self._items) and now - self._oldest >= self.max_wait_s)

    def time_left(self, now: float) -> float | None:
        """Seconds until the pending items are due; None when nothing waits."""
        if not self._items:
            return None
        if len(self._items) >= self.max_batch:
            return 0.0
        return max(0.0, self._oldest + self.max_wait_s - now)

    def take(self, now: float) -> list[Any]:
        batch, self._items = self._items[:self.max_batch], self._items[self.max_batch:]
        self._oldest = now  # whatever is left has waited at least one batch already
        return batch


@dataclass(frozen=True)
class CameraGeometry:
    """A camera's region of interest (x, y, w, h) and counting polygon, in frame pixels."""

    roi: tuple[int, int, int, int] | None = None
    polygon: np.ndarray | None = None  # N×2 float32

    @classmethod
    def from_config(cls, cam: CameraConfig) -> "CameraGeometry":
        roi = (cam.roi.x, cam.roi.y, cam.roi.width, cam.roi.height) if cam.roi else None
        poly = np.asarray(cam.polygon, np.float32).reshape(-1, 2) if cam.polygon else None
        return cls(roi, poly)

    def crop_box(self, width: int, height: int) -> tuple[int, int, int, int] | None:
        """The ROI clamped to a frame of this size as (x0, y0, x1, y1); None = the whole frame."""
        if self.roi is None:
            return None
        x, y, w, h = self.roi
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return x0, y0, x1, y1

    def inside(self, read: PlateRead) -> bool:
        if self.polygon is None:
            return True
        cx = sum(p[0] for p in read.corners) / 4.0
        cy = sum(p[1] for p in read.corners) / 4.0
        return cv2.pointPolygonTest(self.polygon, (float(cx), float(cy)), False) >= 0


def shift_read(read: PlateRead, dx: float, dy: float) -> PlateRead:
    if not dx and not dy:
        return read
    corners = tuple((x + dx, y + dy) for x, y in read.corners)
    return PlateRead(corners, read.det_conf, read.text, read.char_confs, read.crop_jpeg)  # type: ignore[arg-type]


class InferenceEngine:
    """ROI crop → Recognizer.recognize (one call per batch) → corners to frame → polygon filter."""

    def __init__(self, recognizer, geometry: dict[str, CameraGeometry] | None = None) -> None:
        self.recognizer = recognizer
        self.geometry = geometry or {}
        self._warned_roi: set[str] = set()
        self.filtered = 0  # reads dropped by a polygon

    @classmethod
    def from_config(cls, recognizer, cameras: Sequence[CameraConfig]) -> "InferenceEngine":
        return cls(recognizer, {c.id: CameraGeometry.from_config(c) for c in cameras})

    def process(self, frames: Sequence[tuple[str, int, float, np.ndarray]]) -> list[FrameResult]:
        """(camera_id, seq, timestamp, BGR frame) per frame → one FrameResult per frame, in order."""
        if not frames:
            return []
        views, offsets = [], []
        for cam, _, _, img in frames:
            geo = self.geometry.get(cam) or CameraGeometry()
            h, w = img.shape[:2]
            box = geo.crop_box(w, h)
            if box is None and geo.roi is not None and cam not in self._warned_roi:
                self._warned_roi.add(cam)
                log.warning("camera %s: roi %s lies outside its %dx%d frames; using the whole frame",
                            cam, geo.roi, w, h)
            if box is None:
                views.append(img)
                offsets.append((0, 0))
            else:
                x0, y0, x1, y1 = box
                views.append(img[y0:y1, x0:x1])
                offsets.append((x0, y0))
        # each camera a stream: the second look takes its tiles in turn and follows what it found
        reads = self.recognizer.recognize(views, streams=[cam for cam, *_ in frames])
        results = []
        for (cam, seq, ts, img), (dx, dy), frame_reads in zip(frames, offsets, reads):
            geo = self.geometry.get(cam) or CameraGeometry()
            kept = []
            for r in frame_reads:
                r = shift_read(r, dx, dy)
                if geo.inside(r):
                    kept.append(r)
                else:
                    self.filtered += 1
            results.append(FrameResult(cam, int(seq), float(ts), int(img.shape[1]), int(img.shape[0]), tuple(kept)))
        return results


# ---------------------------------------------------------------------------------------------
# The process body


def build_recognizer(inference: InferenceConfig, crops: bool, threads: int | None = None):
    """The Recognizer as the config asks (`threads`: over inference.threads); user-fixable
    errors become FatalChildError."""
    from alprd.cascade import Recognizer
    from alprd.cascade.zoom import ZoomPolicy
    from alprd.model.province_prior import ProvincePrior
    from alprd.model.weights import WeightsError

    kwargs = dict(weights=inference.weights, device=inference.device,
                  det_threshold=inference.det_threshold, nms_threshold=inference.nms_threshold,
                  crops=crops, threads=inference.threads if threads is None else threads, backend=inference.backend,
                  plate_format=inference.plate_format, reread=inference.reread, unsmear=inference.unsmear,
                  junk_recheck=inference.junk_recheck_frames, alternate=inference.alternate_confirmed,
                  read_threshold=inference.read_threshold, all_candidates=inference.all_candidates or None,
                  zoom=ZoomPolicy(tiles_per_frame=inference.zoom_tiles_per_frame, by_change=inference.zoom_by_change),
                  provinces=ProvincePrior(inference.provinces, inference.province_weight) if inference.provinces else None)
    try:
        return Recognizer(**kwargs)
    except (WeightsError, FileNotFoundError, ValueError) as exc:
        raise FatalChildError(f"cannot load the model: {exc}") from None


def build_lanes(inference: InferenceConfig, crops: bool, cameras: int):
    """inference.lanes Recognizers side by side (alprd.infer.lanes; 0 = auto); with more than one
    each runs its nets on inference.threads threads, or one when that is 0."""
    from alprd.infer.lanes import Lanes, auto_lanes

    n = inference.lanes or auto_lanes(inference.device, cameras)
    if n == 1:
        return build_recognizer(inference, crops)
    return Lanes([build_recognizer(inference, crops, inference.threads or 1) for _ in range(n)])


@dataclass(frozen=True)
class _FramesRead:
    """Frames (the reader thread's copy of a Frames message's slots) and per camera how many
    descriptors were already overwritten: passed from the channel's reader thread to the loop."""

    frames: list[tuple[str, int, float, np.ndarray]]
    stale: dict[str, int]


def run_worker(channel, *, inference: InferenceConfig, cameras: list[CameraConfig],
               crops: bool = True) -> int:
    """Process body (see alprd.process.child.child_main). Frames are read from the rings the
    FrameRefs name (the decoders own them; RingReader attaches on first use)."""
    from alprd.stream.ring import RingReader

    t0 = time.monotonic()
    recognizer = build_lanes(inference, crops, len(cameras))
    reader = RingReader()
    # Frames are copied out of their rings by the channel's reader thread the moment their
    # descriptors arrive, not when their batch runs: a decoder keeps writing while a batch is
    # being inferred, and would otherwise overwrite the frames waiting for the next one.
    channel.transform = lambda msg: _FramesRead(*read_frames(reader, msg.refs)) if isinstance(msg, Frames) else msg
    backend = getattr(recognizer, "backend", None)
    on = str(getattr(backend, "device", None) or inference.device)
    max_batch = inference.batch_for(on)
    lanes = getattr(recognizer, "lanes", [recognizer])
    if len(lanes) > 1:       # each lane reads its cameras' frames as soon as it is free
        from alprd.infer.lane_loop import LaneLoop

        loop = LaneLoop(channel, [InferenceEngine.from_config(r, cameras) for r in lanes], recognizer.lane_of,
                        max_batch, _FramesRead, keep=recognizer.keep)
    else:
        loop = _WorkerLoop(channel, InferenceEngine.from_config(recognizer, cameras),
                           Batcher(max_batch, inference.max_wait_ms / 1000.0))
    device = f"{getattr(backend, 'name', '?')} on {on}"
    log.info("inference worker ready on %s in %.1f s (%d lane(s), max batch %d, max wait %g ms%s)", device,
             time.monotonic() - t0, len(lanes), max_batch, inference.max_wait_ms,
             "" if recognizer.trained else "; UNTRAINED weights: nothing will be read")
    # the main process's credit: one batch, or with lanes one for each lane (a lane that answers
    # finds its cameras' next frames waiting, and reads them as a batch, not one by one)
    channel.send(WorkerReady(device, bool(recognizer.trained), max_batch * len(lanes)))
    try:
        return loop.run()
    finally:
        channel.transform = None
        reader.close()
        if hasattr(recognizer, "close"):
            recognizer.close()


class _WorkerLoop:
    """Messages in (a dispatch table), batches out when due, until stopped and drained."""

    def __init__(self, channel, engine: InferenceEngine, batcher: Batcher) -> None:
        self.channel = channel
        self.engine = engine
        self.batcher = batcher
        self.stopping = False
        self.stale: dict[str, int] = {}  # refs found overwritten since the latest Results
        self.handle = Handlers("the inference worker", {
            _FramesRead: self.on_frames, Cameras: self.on_cameras, Stop: self.on_stop})

    def run(self) -> int:
        while True:
            left = self.batcher.time_left(time.monotonic())
            if left is None or left > 0:
                msg = self.channel.get(timeout=0.5 if left is None else left)
                if msg is not None:
                    self.handle(msg)
            now = time.monotonic()
            while self.batcher.due(now) or (self.stopping and len(self.batcher)):
                self.run_batch(self.batcher.take(now))
                now = time.monotonic()
            if self.stopping or self.channel.parent_gone.is_set():
                return 0

    def on_frames(self, msg: _FramesRead) -> None:
        now = time.monotonic()
        for cid, n in msg.stale.items():
            self.stale[cid] = self.stale.get(cid, 0) + n
        for item in msg.frames:
            self.batcher.add(item, now)
        if self.stale and not len(self.batcher):  # account for them now: nothing to batch
            self.run_batch([])

    def on_cameras(self, msg: Cameras) -> None:  # a reload changed the camera list
        self.engine.geometry = {c.id: CameraGeometry.from_config(c) for c in msg.cameras}
        keep = getattr(self.engine.recognizer, "keep", None)   # lanes (alprd.infer.lanes)
        if keep is not None:
            keep([c.id for c in msg.cameras])

    def on_stop(self, msg: Stop) -> None:
        self.stopping = True

    def run_batch(self, frames: list) -> None:
        """Infer one batch and account, in its BatchStats, for its frames and the stale refs
        seen since the previous Results, so the main process knows exactly what is in flight."""
        t0 = time.perf_counter()
        results = self.engine.process(frames)
        self.channel.send(results_message(frames, results, self.stale, time.perf_counter() - t0, self.engine.filtered))
        self.stale = {}


def results_message(frames: list, results: list, stale: dict[str, int], infer_s: float, filtered: int) -> Results:
    """The Results of a batch: its reads, and in its BatchStats every descriptor it answers for
    (its frames and the stale refs seen since the previous Results), so the main process knows
    exactly what is in flight."""
    by_camera = dict(stale)
    for cam, *_ in frames:
        by_camera[cam] = by_camera.get(cam, 0) + 1
    return Results(tuple(results), BatchStats(batch=len(frames), stale=sum(stale.values()), refs_by_camera=by_camera,
                                              infer_s=infer_s, filtered=filtered))


def read_frames(reader, refs) -> tuple[list[tuple[str, int, float, np.ndarray]], dict[str, int]]:
    """Frames of the refs still in their rings, and per camera how many were already overwritten."""
    frames, stale = [], {}
    for ref in refs:
        img = reader.read(ref)
        if img is None:
            stale[ref.camera_id] = stale.get(ref.camera_id, 0) + 1
        else:
            frames.append((ref.camera_id, ref.seq, ref.timestamp, img))
    return frames, stale
