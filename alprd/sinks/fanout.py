"""Fan-out: every event goes to every sink, each sink in its own thread behind its own queue.

A slow or failing sink therefore never delays the others or the caller. Each queue is bounded;
when one is full the oldest waiting event of that sink is dropped and counted (a sink that must
never lose anything puts its own durable spool behind publish(), as the SQL sink does).
Sink exceptions are logged once per failure streak and counted; the sink keeps receiving.

One ordering rule: a sink that declares ``durable = True`` (the SQL sink, whose publish() returns
once the event is fdatasync'd in its spool) handles each event before the other sinks are given
it, so whatever a bus subscriber has seen survives a kill -9 of the daemon. The others wait for
that at most DURABLE_WAIT_S after the event was published (a sick disk must not stall the bus).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass

from alprd.events import PlateEvent
from alprd.sinks.base import Sink

log = logging.getLogger(__name__)

_STOP = object()
DURABLE_WAIT_S = 2.0


@dataclass
class SinkStats:
    published: int = 0
    failed: int = 0
    dropped: int = 0


class _SinkWorker:
    def __init__(self, sink: Sink, maxsize: int, gate=None) -> None:
        self.sink = sink
        self.durable = bool(getattr(sink, "durable", False))
        self.done_seq = 0  # durable sinks: the latest event handed over (events come in order)
        self._gate = gate  # gate(seq, deadline): wait for the durable sinks to have event seq
        self.name = getattr(sink, "name", type(sink).__name__)
        self.queue: queue.Queue = queue.Queue(maxsize)
        self.stats = SinkStats()
        self._pending = 0  # accepted and not yet handed to the sink
        self._busy_since: float | None = None  # enqueue time of the event in the sink's hands
        self._cond = threading.Condition()
        self._failing = False
        self.thread = threading.Thread(target=self._run, name=f"sink-{self.name}", daemon=True)
        self.thread.start()

    def put(self, event: PlateEvent, seq: int = 0) -> None:
        with self._cond:
            self._pending += 1
        while True:
            try:
                self.queue.put_nowait((time.monotonic(), event, seq))
                return
            except queue.Full:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    continue
                with self._cond:
                    self._pending -= 1
                    self.stats.dropped += 1
                    if self.stats.dropped == 1 or self.stats.dropped % 1000 == 0:
                        log.warning("sink %s is falling behind: %d events dropped so far",
                                    self.name, self.stats.dropped)
                    self._cond.notify_all()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _STOP:
                return
            self._busy_since, item, seq = item
            try:
                if self._gate is not None and not self.durable:
                    self._gate(seq, self._busy_since + DURABLE_WAIT_S)
                self.sink.publish(item)
                self.stats.published += 1
                if self._failing:
                    log.info("sink %s is publishing again", self.name)
                    self._failing = False
            except Exception as exc:  # noqa: BLE001 - one sink must not take the daemon down
                self.stats.failed += 1
                if not self._failing:
                    log.error("sink %s failed to publish (%s: %s); it keeps receiving events",
                              self.name, type(exc).__name__, exc)
                    self._failing = True
            finally:
                self._busy_since = None
                if self.durable:
                    self.done_seq = seq
                    if self._gate is not None:
                        self._gate(seq, None)  # wake the sinks waiting for it
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def backlog(self, now: float | None = None) -> tuple[int, float]:
        """(events accepted and not yet handed over, age in s of the oldest of them)."""
        now = time.monotonic() if now is None else now
        with self.queue.mutex:
            head = self.queue.queue[0] if self.queue.queue else None
        oldest = [t for t in (self._busy_since, head[0] if isinstance(head, tuple) else None) if t is not None]
        return self._pending, (now - min(oldest)) if oldest else 0.0

    def wait_idle(self, deadline: float) -> bool:
        with self._cond:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True


class FanoutSink:
    """A Sink made of sinks. publish() never blocks; flush()/close() wait up to `timeout`."""

    name = "fanout"

    def __init__(self, sinks: list[Sink], *, queue_size: int = 10000) -> None:
        self._seq = 0
        self._order = threading.Condition()
        self._durable: list[_SinkWorker] = []
        self._workers = [_SinkWorker(s, queue_size, self._durable_gate) for s in sinks]
        self._durable[:] = [w for w in self._workers if w.durable]
        seen: dict[str, int] = {}
        for w in self._workers:  # unique names for stats and logs
            seen[w.name] = seen.get(w.name, 0) + 1
            if seen[w.name] > 1:
                w.name = f"{w.name}#{seen[w.name]}"
        self._closed = False

    @property
    def sinks(self) -> list[Sink]:
        return [w.sink for w in self._workers]

    @property
    def stats(self) -> dict[str, SinkStats]:
        return {w.name: w.stats for w in self._workers}

    def status(self) -> dict[str, dict]:
        """Per sink: published/failed/dropped, queued (waiting in the fan-out) and lag_s (age of
        the oldest of them), merged with the sink's own metrics() when it has one (the SQL sink:
        its spool's backlog)."""
        now = time.monotonic()
        out = {}
        for w in self._workers:
            queued, lag = w.backlog(now)
            d = {**vars(w.stats), "queued": queued, "lag_s": round(lag, 3)}
            own = getattr(w.sink, "metrics", None)
            if callable(own):
                try:
                    extra = dict(own())
                except Exception:  # noqa: BLE001 - figures must never break the daemon
                    log.debug("sink %s: metrics() failed", w.name, exc_info=True)
                    extra = {}
                d["lag_s"] = round(max(lag, float(extra.pop("lag_s", 0.0))), 3)
                d.update(extra)
            out[w.name] = d
        return out

    def publish(self, event: PlateEvent) -> None:
        if self._closed:
            raise RuntimeError("publish() after close()")
        self._seq += 1
        for w in self._workers:
            w.put(event, self._seq)

    def _durable_gate(self, seq: int, deadline: float | None) -> None:
        """A durable worker announces (deadline None) that it handled event seq; any other
        worker waits until every durable one has, or the deadline passes."""
        with self._order:
            if deadline is None:
                self._order.notify_all()
                return
            while any(w.done_seq < seq and w.thread.is_alive() for w in self._durable):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._order.wait(left)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every sink has taken every event, then flush each sink. False on timeout."""
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        ok = True
        for w in self._workers:
            if not w.wait_idle(deadline):
                log.error("sink %s: %d events still queued after the flush timeout", w.name, w._pending)
                ok = False
                continue
            try:
                w.sink.flush(max(0.0, deadline - time.monotonic()))
            except Exception as exc:  # noqa: BLE001
                log.error("sink %s: flush failed: %s", w.name, exc)
                ok = False
        return ok

    def close(self, timeout: float | None = 10.0) -> bool:
        if self._closed:
            return True
        ok = self.flush(timeout)
        self._closed = True
        for w in self._workers:
            try:
                w.queue.put(_STOP, timeout=1.0)
            except queue.Full:  # a hung sink after a timed-out flush: give up on it
                log.error("sink %s is not consuming; closing it with events undelivered", w.name)
        for w in self._workers:
            w.thread.join(5.0)
            try:
                w.sink.close()
            except Exception as exc:  # noqa: BLE001
                log.error("sink %s: close failed: %s", w.name, exc)
                ok = False
        return ok
