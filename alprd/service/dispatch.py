"""Which frames go to the inference worker, and when: the main process's frame bookkeeping.

Every frame descriptor (FrameRef) a decoder sends is, at any time, in exactly one place: waiting
here, in flight at the worker, or accounted as dropped / processed / stale / lost by the caller.
Three rules keep latency bounded on a machine that cannot keep up:
- at most `credit` frames (one batch) are in flight, so the worker never holds a backlog;
- per camera at most `slots` frames wait (their ring slots are reused by the decoder after that);
- a frame that waited longer than `max_queue_s` is skipped: under overload the worker gets the
  newest frames and events stay current, instead of lagging by the length of a queue;
- the cameras with the fewest frames in flight go first, but no camera's frames go out more than
  MAX_LEAD_S of stream time ahead of another camera's oldest frame waiting or in flight (its own
  backlog goes out as fast as the credit allows): a worker lane that
  answered may run ahead of a busy one (alprd.infer.lane_loop), never far ahead, so events of
  different cameras (an entry and an exit camera's visit) keep their order in stream time.
Plain data in, plain data out: no processes, no clocks (callers pass `now`).
"""
from __future__ import annotations

import math
from collections import deque

from alprd.stream.ring import FrameRef

MAX_LEAD_S = 1.0        # stream seconds a camera's frames may go out ahead of the oldest one


class FrameDispatcher:
    def __init__(self, cameras: list[str], *, slots: int, credit: int, max_queue_s: float) -> None:
        self.slots = slots
        self.credit = credit
        self.max_queue_s = max_queue_s
        self._waiting: dict[str, deque[tuple[FrameRef, float]]] = {c: deque() for c in cameras}
        # per camera the stream times of its frames in flight, oldest first (their count is its in-flight count)
        self._flying: dict[str, deque[float]] = {c: deque() for c in cameras}

    # -- cameras -------------------------------------------------------------------------------
    def add_camera(self, cid: str) -> None:
        self._waiting.setdefault(cid, deque())
        self._flying.setdefault(cid, deque())

    def remove_camera(self, cid: str) -> None:
        self._waiting.pop(cid, None)
        self._flying.pop(cid, None)

    def __contains__(self, cid: str) -> bool:
        return cid in self._waiting

    # -- what the caller reads -----------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return sum(len(q) for q in self._flying.values())

    def in_flight_of(self, cid: str) -> int:
        return len(self._flying.get(cid, ()))

    def waiting_of(self, cid: str) -> int:
        return len(self._waiting.get(cid, ()))

    def busy(self, cid: str) -> bool:
        """Frames of this camera are waiting or in flight."""
        return bool(self._waiting.get(cid)) or bool(self._flying.get(cid))

    def drained(self) -> bool:
        return not self.in_flight and not any(self._waiting.values())

    # -- frames in -----------------------------------------------------------------------------
    def received(self, ref: FrameRef, now: float) -> int:
        """Queue a decoder's frame; the number of older frames of its camera dropped for it (their
        ring slots are being overwritten)."""
        q = self._waiting.get(ref.camera_id)
        if q is None:
            return 0
        q.append((ref, now))
        dropped = 0
        while len(q) > self.slots:
            q.popleft()
            dropped += 1
        return dropped

    def skip_late(self, now: float) -> dict[str, int]:
        """Drop frames that waited longer than max_queue_s, oldest first; per camera how many."""
        skipped: dict[str, int] = {}
        if not self.max_queue_s:
            return skipped
        for cid, q in self._waiting.items():
            n = 0
            while q and now - q[0][1] > self.max_queue_s:
                q.popleft()
                n += 1
            if n:
                skipped[cid] = n
        return skipped

    # -- frames out ----------------------------------------------------------------------------
    def take(self) -> list[FrameRef]:
        """The next frames for the worker, as many as the credit leaves room for: the cameras with
        the fewest frames in flight (or already taken) first, and among those the oldest frame (by
        stream time) first; each camera's frames in order. So every camera gets a frame in each
        batch before any gets a second, and a worker lane that answered for its cameras' frames
        gets their next ones while another lane is still busy (alprd.infer.lane_loop). The
        caller sends them, then calls sent() or put_back()."""
        room = self.credit - self.in_flight
        batch: list[FrameRef] = []
        taken = {cid: len(q) for cid, q in self._flying.items()}
        # per camera its oldest frame in flight (or taken now): the other cameras' lead counts from it
        flying = {cid: q[0] for cid, q in self._flying.items() if q}
        while room > 0:
            oldest = {cid: q[0][0].timestamp for cid, q in self._waiting.items() if q}
            for cid, t in flying.items():
                oldest[cid] = min(oldest.get(cid, t), t)
            heads = [(taken.get(cid, 0), q[0][0].timestamp, cid) for cid, q in self._waiting.items()
                     if q and q[0][0].timestamp <= self._limit(cid, oldest)]
            if not heads:
                break
            *_, cid = min(heads)
            ref = self._waiting[cid].popleft()[0]
            batch.append(ref)
            flying.setdefault(cid, ref.timestamp)
            taken[cid] = taken.get(cid, 0) + 1
            room -= 1
        return batch

    @staticmethod
    def _limit(cid: str, oldest: dict[str, float]) -> float:
        """The latest stream time a frame of `cid` may have to go out: MAX_LEAD_S past the oldest
        frame of any other camera (none: no limit)."""
        return min((t for c, t in oldest.items() if c != cid), default=math.inf) + MAX_LEAD_S

    def sent(self, refs: list[FrameRef]) -> None:
        for ref in refs:
            if ref.camera_id in self._flying:
                self._flying[ref.camera_id].append(ref.timestamp)

    def put_back(self, refs: list[FrameRef], now: float) -> None:
        """Frames take() gave out that could not be sent: first in line again, in order."""
        for ref in reversed(refs):
            q = self._waiting.get(ref.camera_id)
            if q is not None:
                q.appendleft((ref, now))

    def done(self, by_camera: dict[str, int]) -> None:
        """The worker answered for these frames (processed or stale)."""
        for cid, n in by_camera.items():
            flying = self._flying.get(cid)
            if flying is not None:
                # a camera's frames are answered in order (a stale ref counted early makes its
                # camera's oldest frame in flight look a frame newer: the lead is approximate)
                for _ in range(min(n, len(flying))):
                    flying.popleft()

    def lose_in_flight(self) -> dict[str, int]:
        """The worker is gone: per camera, the frames that were in flight."""
        lost = {cid: len(q) for cid, q in self._flying.items() if q}
        for q in self._flying.values():
            q.clear()
        return lost

    def clear_waiting(self) -> dict[str, int]:
        """Give up on every waiting frame: per camera how many."""
        cleared = {cid: len(q) for cid, q in self._waiting.items() if q}
        for q in self._waiting.values():
            q.clear()
        return cleared
