"""The main process's side of the frame flow: decoders' FrameRefs in, batches to the worker out.

Around the pure FrameDispatcher (alprd.service.dispatch) it keeps what the loop needs to know
per camera (its latest frame's stream time and arrival, rings left by decoders that finished)
and accounts every frame in the counters: received, dropped while waiting, lost with the worker.
"""
from __future__ import annotations

import logging
from typing import Callable

from alprd.config import AppConfig
from alprd.messages import BatchStats, Frames
from alprd.service.dispatch import FrameDispatcher
from alprd.service.runstats import Counters
from alprd.stream.ring import FrameRef, remove_orphans

log = logging.getLogger("alprd.service.daemon")


class FrameRelay:
    def __init__(self, cfg: AppConfig, camera_ids: list[str], counters: Counters) -> None:
        self.counters = counters
        self.frames = FrameDispatcher(  # the credit is the worker's batch size: its WorkerReady says
            camera_ids, slots=cfg.defaults.ring_slots, credit=cfg.inference.batch_for(cfg.inference.device),
            max_queue_s=cfg.inference.max_queue_ms / 1000.0)
        self.last_frame: dict[str, tuple[float, float]] = {}  # camera → (stream ts, monotonic arrival)
        self.ended_rings: set[str] = set()  # cameras whose decoder finished, ring left for the worker

    def received(self, ref: FrameRef, now: float) -> None:
        if ref.camera_id not in self.frames:
            return  # a camera removed by a reload: its last descriptors are ignored
        self.counters.frame_received(ref.camera_id)
        self.last_frame[ref.camera_id] = (ref.timestamp, now)
        dropped = self.frames.received(ref, now)
        if dropped:
            self.counters.frames_dropped_waiting(ref.camera_id, dropped)

    def unchanged(self, ref: FrameRef, now: float) -> bool:
        """A frame the motion gate marked unchanged: the camera is not silent, nothing is queued.
        True when the tracker may take it (no earlier frame of the camera waits or is in flight:
        their results would arrive after it)."""
        if ref.camera_id not in self.frames:
            return False
        self.counters.frame_gated(ref.camera_id)
        self.last_frame[ref.camera_id] = (ref.timestamp, now)
        return not self.frames.busy(ref.camera_id)

    def answered(self, stats: BatchStats) -> None:
        self.frames.done(stats.refs_by_camera)

    def dispatch(self, send: Callable[[Frames], bool], now: float, *, skip_late: bool) -> bool:
        """Send the next batch the credit allows (skipping frames that waited too long, unless
        an orderly stop wants every waiting frame processed); True if frames went out while none
        were in flight (the stall clock starts then)."""
        if skip_late:
            for cid, n in self.frames.skip_late(now).items():
                self.counters.frames_dropped_waiting(cid, n)
        batch = self.frames.take()
        if not batch:
            return False
        if not send(Frames(tuple(batch))):  # worker going away: put them back, oldest first
            self.frames.put_back(batch, now)
            return False
        first = not self.frames.in_flight
        self.frames.sent(batch)
        return first

    def silent(self, now: float, quiet_s: float) -> list[tuple[str, float]]:
        """Cameras whose decoder has sent nothing for quiet_s and that have nothing waiting or in
        flight, with their own clock now (latest frame's timestamp advanced by the time since)."""
        return [(cid, ts + (now - arrived)) for cid, (ts, arrived) in self.last_frame.items()
                if now - arrived > quiet_s and not self.frames.busy(cid)]

    def decoder_exited(self, camera_id: str, exitcode: int | None) -> None:
        if exitcode != 0:
            remove_orphans()  # a killed decoder could not unlink its ring
        else:  # at the end of its file it left its ring: frames in it may still wait
            self.ended_rings.add(camera_id)

    def remove_ended_rings(self, every: bool = False) -> None:
        """Unlink the rings finished decoders left behind once their frames are all processed."""
        for cid in list(self.ended_rings):
            if every or not self.frames.busy(cid):
                remove_orphans(camera=cid)
                self.ended_rings.discard(cid)

    def worker_lost(self) -> None:
        lost = self.frames.lose_in_flight()
        if lost:
            log.warning("%d frame(s) in flight were lost with the worker", sum(lost.values()))
            self.counters.frames_lost_with_worker(lost)

    def abandon(self) -> None:
        """Give up on every frame still waiting (dropped) or in flight (lost), counting each."""
        for cid, n in self.frames.clear_waiting().items():
            self.counters.frames_dropped_waiting(cid, n)
        self.counters.frames_lost_with_worker(self.frames.lose_in_flight())

    def add_camera(self, cid: str) -> None:
        self.frames.add_camera(cid)

    def remove_camera(self, cid: str) -> None:
        self.frames.remove_camera(cid)
        self.last_frame.pop(cid, None)
