"""The one durable-sink mechanism: events go to an on-disk spool, one writer thread hands them on.

A durable sink is a spool (alprd.sinks.spool) in front of a *target* (a database, a web hook, a
broker). publish() appends the event's JSON to the spool and returns; the writer thread reads
batches in order and gives each to ``target.write()``, which ends in one of three ways (the
contract of persist-queue's acknowledged queue):

- it returns: the batch is committed, except the records it names as ``Rejected`` (poison: they
  can never be written); those go to ``rejected.jsonl`` beside the spool and the queue moves on;
- it raises ``TargetUnavailable``: nothing is lost; the batch is retried with back-off (doubling
  up to retry_max_s), the sink reports itself unavailable, and events pile up on disk;
- it raises anything else (``RecordError``, or a bug): some record of the batch cannot be written
  and the target could not say which; the batch is written again one record at a time and a
  record that fails alone is rejected.

The spool is acknowledged only after a batch's fate is known, so a crash replays at most the
batch in flight: targets must be idempotent (the event id is the key). While the spool's disk
refuses writes (full, read-only), up to memory_max_events wait in memory and are spooled when it
takes writes again; beyond that, and beyond spool_max_mb while the target is behind, events are
dropped and counted exactly (``spool_dropped``). See docs/architecture.md for a minimal sink.
"""
from __future__ import annotations

import collections
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

from alprd.events import PlateEvent
from alprd.sinks.spool import Position, Spool, SpoolError

_BACKOFF_START_S = 0.25


class TargetUnavailable(Exception):
    """The target cannot take anything now (down, locked, unreachable); the message is logged as
    is, so it must not hold credentials."""


class RecordError(Exception):
    """A batch holds a record the target can never take, and the target cannot say which; the
    message is kept with each rejected record, so it must not hold credentials."""


@dataclass(frozen=True)
class Rejected:
    """A poison record: the spooled line as read, and why the target refused it."""

    record: str
    reason: str


@runtime_checkable
class Target(Protocol):
    """Where a durable sink's events end up. Optional extras the mechanism uses when present:
    ``metrics() -> dict`` (merged into the sink's figures) and ``idle() -> float`` (housekeeping
    called by the writer while the queue is empty; returns seconds until it wants the next call)."""

    where: str  # for log lines, credentials masked: "database postgresql://u:***@db/alprd"

    def write(self, records: Sequence[str]) -> Sequence[Rejected]:
        """Commit the records (spooled JSON lines, in order); return the poison ones."""

    def close(self) -> None:
        """Release connections; called once, after the writer thread has stopped."""


@dataclass(frozen=True)
class DurableSettings:
    batch_size: int = 64             # records per write()
    flush_interval_s: float = 0.5    # a partial batch waits this long for more
    retry_max_s: float = 30.0        # longest back-off between tries of an unavailable target
    spool_max_mb: float | None = 1024.0  # disk the backlog may fill; None = no limit
    memory_max_events: int = 10000   # held in memory while the spool's disk refuses writes
    fsync: bool = True
    stop_grace_s: float = 5.0        # close(): extra wait for a write in progress

    @classmethod
    def of(cls, cfg, **overrides) -> "DurableSettings":
        """From any config model with these fields (the sinks' shared DurableSinkConfig)."""
        names = [f for f in cls.__dataclass_fields__ if hasattr(cfg, f)]
        return cls(**{**{n: getattr(cfg, n) for n in names}, **overrides})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().split("\n")[0]
    return text if isinstance(exc, (TargetUnavailable, RecordError)) else f"{type(exc).__name__}: {text}"


class DurableSink:
    """A Sink: publish() from any thread (returns once the event is spooled), flush(), close().

    ``label`` names the sink in log lines ("SQL sink"); ``accepts`` filters events (a sink may
    store only finals); ``log`` is the sink's own logger, so its lines carry its module's name.
    """

    durable = True  # publish() returns once the event is in the spool: the fan-out lets it go first

    def __init__(self, name: str, target: Target, spool_dir: str | Path, settings: DurableSettings,
                 *, label: str | None = None, accepts: Callable[[PlateEvent], bool] | None = None,
                 log: logging.Logger | None = None, start: bool = True) -> None:
        self.name = name
        self.target = target
        self.settings = settings
        self.label = label or f"{name} sink"
        self._accepts = accepts
        self.log = log or logging.getLogger(f"alprd.sinks.{name}")
        self.spool = Spool(spool_dir, fsync=settings.fsync)
        self.rejected = 0     # records moved to rejected.jsonl
        self.dropped = 0      # events neither spooled nor held in memory (counted exactly)
        self._available = True
        self._cv = threading.Condition()
        self._publish_lock = threading.Lock()  # keeps memory-held events ahead of newer ones
        self._memory: collections.deque[str] = collections.deque()
        self._stopping = False
        self._flush_wanted = False
        self._tries = 0        # write attempts begun
        self._failed_try = 0   # the latest attempt that failed (flush() gives up after one of its own)
        self._spool_failing = False
        self._ack_failing = False
        self._next_idle = 0.0
        # since when events wait in the spool (for the lag metric); None while caught up
        self._behind_since: float | None = None
        pending = self.spool.pending_bytes()
        if pending:
            self._behind_since = time.monotonic()
            self.log.info("%s: replaying %d spooled bytes from %s", self.label, pending, self.spool.dir)
        self._thread = threading.Thread(target=self._run, name=f"{name}-sink", daemon=True)
        if start:
            self._thread.start()

    def start(self) -> None:
        """Begin delivering (constructed with start=False: the owner first counted the spool)."""
        if self._thread.ident is None:
            self._thread.start()

    # --- Sink protocol -------------------------------------------------------------------------
    def publish(self, event: PlateEvent) -> None:
        if self._accepts is not None and not self._accepts(event):
            return
        record = event.to_json()
        with self._publish_lock:
            caught_up = not self.pending()
            if not caught_up and self._spool_full():
                self._drop(f"the spool holds more than spool_max_mb = {self.settings.spool_max_mb:g} MB "
                           f"that {self.target.where} has not taken")
                return
            if self._memory:
                self._spool_from_memory()
            if self._memory:  # older events still wait in memory: this one goes behind them
                self._hold(record, None)
                return
            try:
                self.spool.append([record])
            except (OSError, SpoolError) as exc:
                self._hold(record, exc)
                return
            self._spool_works()
        if caught_up or self._behind_since is None:
            self._behind_since = time.monotonic()
        with self._cv:
            self._cv.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published so far is written to the target; False if the timeout
        passed, or as soon as the writer, woken from its back-off to try once more, failed again:
        while the target is down, waiting only delays a stop (the events are safe in the spool).
        Events still held in memory (the spool's disk refuses writes) make it False too."""
        with self._publish_lock:
            self._spool_from_memory()
        target = self.spool.end
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            # a try already under way when flush() came may fail for the state before (a target
            # that has just come back): only a try begun after this call says "still down"
            began = self._tries
            self._flush_wanted = True
            self._cv.notify_all()
            while self.spool.acked < target and self._thread.is_alive():
                if self._failed_try > began:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cv.wait(left if left is not None else 1.0)
            self._flush_wanted = False
            return self.spool.acked >= target and not self._memory

    def close(self, timeout: float = 5.0) -> None:
        """Flush for up to `timeout`, then stop; whatever is left stays spooled for next start."""
        if self._thread.is_alive():
            self.flush(timeout)
            with self._cv:
                self._stopping = True
                self._cv.notify_all()
            self._thread.join(timeout + self.settings.stop_grace_s)
        with self._publish_lock:
            self._spool_from_memory()
            if self._memory:
                lost = len(self._memory)
                self.dropped += lost
                self._memory.clear()
                self.log.error("%s: %d events held in memory are lost: the spool %s still refuses "
                               "writes", self.label, lost, self.spool.dir)
        if self.pending():
            self.log.warning("%s: %s is unavailable; %d bytes of events stay spooled in %s and are "
                             "written at the next start", self.label, self.target.where,
                             self.spool.pending_bytes(), self.spool.dir)
        self.spool.close()
        self.target.close()

    # --- state ---------------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        """The target takes writes, and the writer thread is alive to give them to it."""
        return self._available and (self._thread.is_alive() or self._stopping)

    def pending(self) -> bool:
        return self.spool.acked < self.spool.end

    def metrics(self) -> dict:
        """Figures for the fan-out's status (stats.json, Prometheus): the spool's backlog."""
        behind = self._behind_since
        pending = self.pending()
        own = getattr(self.target, "metrics", None)
        return {**(own() if callable(own) else {}),
                "spool_bytes": self.spool.pending_bytes(), "available": int(self.available),
                "rejected": self.rejected, "spool_dropped": self.dropped,
                "memory_events": len(self._memory),
                "lag_s": (time.monotonic() - behind) if pending and behind is not None else 0.0}

    # --- the spool's disk refusing writes (publish lock held) ----------------------------------
    def _spool_full(self) -> bool:
        """Over spool_max_mb (only asked while the target is behind: it stats the segments)."""
        cap = self.settings.spool_max_mb
        return cap is not None and self.spool.pending_bytes() > cap * 1e6

    def _drop(self, why: str) -> None:
        self.dropped += 1
        if not self._spool_failing:
            self.log.error("%s: cannot spool events (%s); dropping them until it recovers", self.label, why)
            self._spool_failing = True

    def _hold(self, record: str, exc: Exception | None) -> None:
        if len(self._memory) >= self.settings.memory_max_events:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                self.log.error("%s: the spool's disk refuses writes and %d events wait in memory "
                               "(memory_max_events): %d dropped so far", self.label,
                               len(self._memory), self.dropped)
            return
        self._memory.append(record)
        if not self._spool_failing:
            self.log.error("%s: cannot spool events (%s); holding up to %d in memory until it "
                           "recovers", self.label, exc, self.settings.memory_max_events)
            self._spool_failing = True

    def _spool_from_memory(self) -> None:
        """Move memory-held events to the spool, oldest first, while it takes them."""
        while self._memory:
            try:
                self.spool.append([self._memory[0]])
            except (OSError, SpoolError):
                return
            self._memory.popleft()
        self._spool_works()

    def _spool_works(self) -> None:
        if self._spool_failing:
            self.log.info("%s: spooling works again (%d events dropped)", self.label, self.dropped)
            self._spool_failing = False

    # --- writer thread -------------------------------------------------------------------------
    def _wait(self, seconds: float, until=lambda: False) -> None:
        deadline = time.monotonic() + seconds
        with self._cv:
            while not (self._stopping or until()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cv.wait(left)

    def _idle(self) -> float:
        """The target's housekeeping, when due; returns how long the writer may sleep."""
        idle = getattr(self.target, "idle", None)
        now = time.monotonic()
        if callable(idle) and now >= self._next_idle:
            try:
                self._next_idle = now + max(0.1, float(idle()))
            except Exception:  # noqa: BLE001 - housekeeping is best effort
                self.log.warning("%s: housekeeping failed", self.label, exc_info=True)
                self._next_idle = now + 60.0
        wait = self._next_idle - now if callable(idle) else 60.0
        if self._memory:  # the writer retries the spool for events held in memory
            wait = min(wait, 1.0)
        return max(0.1, min(60.0, wait))

    def _next_batch(self, cursor: Position):
        """Records after cursor: as soon as batch_size are there, else after flush_interval_s."""
        size = self.settings.batch_size
        while self.spool.end <= cursor:
            wait = self._idle()  # outside the lock: publish() must never wait for the target
            if self._memory and self._publish_lock.acquire(blocking=False):
                try:
                    self._spool_from_memory()
                finally:
                    self._publish_lock.release()
            with self._cv:
                if self._stopping:
                    return None
                if self.spool.end <= cursor:
                    self._cv.wait(wait)
        mark = self.spool.appended_records
        lines, pos = self.spool.read(cursor, size)
        missing = size - len(lines)
        if missing > 0 and not self._flush_wanted:
            self._wait(self.settings.flush_interval_s, lambda: self._flush_wanted
                       or self.spool.appended_records - mark >= missing)
            lines, pos = self.spool.read(cursor, size)
        return lines, pos

    def _run(self) -> None:
        cursor = self.spool.acked
        batch = None
        backoff = _BACKOFF_START_S
        while True:
            try:
                if batch is None:
                    batch = self._next_batch(cursor)
                    if batch is None:
                        return
                lines, end = batch
                with self._cv:
                    self._tries += 1
                for bad in self._deliver(lines):
                    self._reject(bad)
                # the target took the batch: say so before the ack wakes a flush() waiting on it
                self._set_available(True)
                self._ack(end)
            except Exception as exc:  # noqa: BLE001 - unavailable, or a fault of ours: retry later
                if not isinstance(exc, TargetUnavailable):
                    self.log.error("%s: writer error; retrying", self.label, exc_info=True)
                self._set_available(False, exc)
                with self._cv:
                    self._failed_try = self._tries
                    self._cv.notify_all()
                if self._stopping:
                    return
                self._wait(backoff, lambda: self._flush_wanted)  # a flush asks for a try now
                backoff = min(backoff * 2, self.settings.retry_max_s)
                continue
            cursor, batch, backoff = end, None, _BACKOFF_START_S
            with self._cv:
                self._cv.notify_all()

    def _deliver(self, records: list[str]) -> list[Rejected]:
        """One write; a batch failing for its content is written again record by record."""
        if not records:
            return []
        try:
            return list(self.target.write(records))
        except TargetUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - by the contract, a record the target cannot take
            if len(records) == 1:
                return [Rejected(records[0], _first_line(exc))]
            if not isinstance(exc, RecordError):
                self.log.warning("%s: a batch failed (%s); writing it one record at a time",
                                 self.label, _first_line(exc))
            out: list[Rejected] = []
            for record in records:
                out += self._deliver([record])
            return out

    def _ack(self, end: Position) -> None:
        try:
            self.spool.ack(end)
        except OSError as exc:  # acked in memory; a restart replays, which targets tolerate
            if not self._ack_failing:
                self.log.warning("%s: cannot persist the spool's ack file (%s); the records written "
                                 "since are replayed at the next start", self.label, exc)
                self._ack_failing = True
        else:
            if self._ack_failing:
                self.log.info("%s: the spool's ack file is persisted again", self.label)
                self._ack_failing = False
        if not self.pending():
            self._behind_since = None

    def _set_available(self, ok: bool, exc: Exception | None = None) -> None:
        if ok and not self._available:
            self.log.info("%s: %s is back; writing spooled events", self.label, self.target.where)
        elif not ok:
            msg = _first_line(exc) if exc is not None else "unknown error"
            if self._available:
                self.log.warning("%s: cannot write to %s (%s); spooling to %s and retrying",
                                 self.label, self.target.where, msg, self.spool.dir)
            else:
                self.log.debug("%s: still failing: %s", self.label, msg)
        self._available = ok

    def _reject(self, bad: Rejected) -> None:
        self.rejected += 1
        self.log.error("%s: rejected a record (%s); kept in %s/rejected.jsonl", self.label,
                       bad.reason, self.spool.dir)
        try:
            with open(self.spool.dir / "rejected.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps({"error": bad.reason, "record": bad.record}, ensure_ascii=False) + "\n")
        except OSError as exc:
            self.log.error("%s: cannot keep the rejected record (%s): %s", self.label, exc, bad.record)
