"""The inference worker's loop when it has several lanes: lanes that do not wait for each other.

With one Recognizer per core (alprd.infer.lanes) run as one batch, a batch came back when its
slowest lane was done. In the 4-camera distant-cars run a lane spent 15 % of its time waiting for
the other (the cameras' frames are not equally hard: one lane's cameras show a doubtful distant
car, the other's an empty street) and 5 % waiting for the next batch. Here each lane takes its
own cameras' frames (up to max_batch) as soon as it is free, reads them in a thread of its own,
and its Results go back the moment it is done; the main process gives the cameras with the
fewest frames in flight their next frames first (alprd.service.dispatch), so a lane that
answered gets its cameras' next frames while the other is still busy. A camera's frames stay in
order: it belongs to one lane, and a lane reads one batch at a time.

The loop itself (messages, Results, the stale count) runs in the worker's main thread only; a
lane's thread only reads and posts what it got back to the loop (Channel.post). An error in a
lane ends the loop with that error, as an error in a batch does in the one-lane loop.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from alprd.infer.worker import CameraGeometry, results_message
from alprd.messages import Cameras, Handlers, Stop

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaneDone:
    """A lane's batch, read (results) or failed (error): posted by the lane's thread to the loop."""

    lane: int
    frames: list
    results: list | None
    infer_s: float
    error: BaseException | None = None


class LaneLoop:
    """Messages in, each lane's batches out as soon as it is free, until stopped and drained.

    `engines`: one alprd.infer.worker.InferenceEngine per lane (each with its lane's Recognizer);
    `lane_of`: camera id → lane (alprd.infer.lanes.Lanes.lane_of); `frames_type`: the message
    the channel's reader thread makes of a Frames message (frames, stale)."""

    def __init__(self, channel, engines, lane_of, max_batch: int, frames_type: type, keep=None) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.channel = channel
        self.engines = list(engines)
        self.lane_of = lane_of
        self.keep = keep
        self.max_batch = max_batch
        self.pending: list[deque] = [deque() for _ in self.engines]
        self.busy = [False] * len(self.engines)
        self.stale: dict[str, int] = {}
        self.stopping = False
        self._pool = ThreadPoolExecutor(len(self.engines), "alprd-lane")
        self.handle = Handlers("the inference worker", {
            frames_type: self.on_frames, LaneDone: self.on_done, Cameras: self.on_cameras, Stop: self.on_stop})

    def idle(self) -> bool:
        return not any(self.busy) and not any(self.pending)

    def run(self) -> int:
        try:
            while True:
                msg = self.channel.get(timeout=0.5)
                if msg is not None:
                    self.handle(msg)
                self.schedule()
                if (self.stopping or self.channel.parent_gone.is_set()) and self.idle():
                    return 0
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def schedule(self) -> None:
        """Every free lane with frames waiting starts on the oldest max_batch of them."""
        for lane, q in enumerate(self.pending):
            if self.busy[lane] or not q:
                continue
            batch = [q.popleft() for _ in range(min(self.max_batch, len(q)))]
            self.busy[lane] = True
            self._pool.submit(self._read, lane, batch)

    def _read(self, lane: int, frames: list) -> None:
        """A lane's thread: its batch through its engine, the outcome posted to the loop."""
        t0 = time.perf_counter()
        try:
            done = LaneDone(lane, frames, self.engines[lane].process(frames), time.perf_counter() - t0)
        except BaseException as exc:  # noqa: BLE001 - the loop raises it
            done = LaneDone(lane, frames, None, time.perf_counter() - t0, exc)
        self.channel.post(done)

    def on_frames(self, msg) -> None:
        for cid, n in msg.stale.items():
            self.stale[cid] = self.stale.get(cid, 0) + n
        for item in msg.frames:
            self.pending[self.lane_of(item[0])].append(item)
        if self.stale and not msg.frames:   # account for them now: nothing to read
            self._send([], [], 0.0)

    def on_done(self, msg: LaneDone) -> None:
        self.busy[msg.lane] = False
        if msg.error is not None:
            raise msg.error
        self._send(msg.frames, msg.results, msg.infer_s)

    def _send(self, frames: list, results: list, infer_s: float) -> None:
        """One Results for a lane's batch, with the stale refs seen since the previous Results."""
        self.channel.send(results_message(frames, results, self.stale, infer_s, sum(e.filtered for e in self.engines)))
        self.stale = {}

    def on_cameras(self, msg: Cameras) -> None:  # a reload changed the camera list
        geometry = {c.id: CameraGeometry.from_config(c) for c in msg.cameras}
        for engine in self.engines:
            engine.geometry = geometry
        if self.keep is not None:
            self.keep([c.id for c in msg.cameras])

    def on_stop(self, msg: Stop) -> None:
        self.stopping = True
