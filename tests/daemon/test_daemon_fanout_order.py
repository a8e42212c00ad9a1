"""The fan-out's one ordering rule: a durable sink (the SQL sink's spool) has each event before any
other sink (the bus) is given it, so a subscriber never sees an event a kill -9 could still lose;
a durable sink that hangs delays the others by at most DURABLE_WAIT_S."""
from __future__ import annotations

import threading
import time

from datetime import datetime, timezone

from alprd.events import PlateEvent
from alprd.sinks import fanout
from alprd.sinks.fanout import FanoutSink


def event(plate: str) -> PlateEvent:
    now = datetime.now(timezone.utc)
    return PlateEvent("plate.final", "gate", 1, plate, 0.9, now, now, 3)


class SlowDisk:
    """A durable sink whose publish() takes `delay` seconds (a slow fdatasync), after waiting
    for `release` (set from the start unless `hang`: a disk that hangs until released)."""

    name = "spool"
    durable = True

    def __init__(self, delay: float = 0.0, *, hang: bool = False, log: list | None = None) -> None:
        self.delay = delay
        self.release = threading.Event()
        if not hang:
            self.release.set()
        self.log = log if log is not None else []

    def publish(self, e) -> None:
        self.release.wait(3600)
        time.sleep(self.delay)
        self.log.append(("disk", e.event_id))

    def flush(self, timeout=None) -> None:
        pass

    def close(self) -> None:
        pass


class Wire:
    name = "bus"

    def __init__(self, log: list | None = None) -> None:
        self.seen: dict[str, float] = {}
        self.got = threading.Event()
        self.log = log if log is not None else []

    def publish(self, e) -> None:
        self.seen[e.event_id] = time.monotonic()
        self.log.append(("bus", e.event_id))
        self.got.set()

    def flush(self, timeout=None) -> None:
        pass

    def close(self) -> None:
        pass


def test_other_sinks_get_an_event_only_after_the_durable_sink_has_it(monkeypatch):
    # the bus may wait an hour for the spool: only the spool having the event lets it go on
    monkeypatch.setattr(fanout, "DURABLE_WAIT_S", 3600.0)
    log: list = []
    disk, wire = SlowDisk(0.3, log=log), Wire(log)
    out = FanoutSink([wire, disk])  # order of the list does not matter
    evs = [event(f"P{i}") for i in range(3)]
    for e in evs:
        out.publish(e)
    assert out.flush(60), "the bus was not released when the spool had the events"  # a hang guard
    for e in evs:
        assert log.index(("disk", e.event_id)) < log.index(("bus", e.event_id)), "the bus got ahead of the spool"
    out.close()


def test_a_hung_durable_sink_delays_the_others_only_boundedly(monkeypatch):
    monkeypatch.setattr(fanout, "DURABLE_WAIT_S", 0.3)
    log: list = []
    disk, wire = SlowDisk(hang=True, log=log), Wire(log)
    out = FanoutSink([disk, wire])
    e = event("P")
    try:
        t0 = time.monotonic()
        out.publish(e)
        # the disk hangs until released below: the bus got the event without it
        assert wire.got.wait(60), "the bus waited for a hung disk without bound"
        assert log == [("bus", e.event_id)]
        # ... but only once its wait for the disk had run out (a lower bound: load only delays)
        assert wire.seen[e.event_id] >= t0 + fanout.DURABLE_WAIT_S
    finally:
        disk.release.set()
    assert out.close(timeout=60)
    assert log == [("bus", e.event_id), ("disk", e.event_id)]


def test_without_a_durable_sink_nothing_waits(monkeypatch):
    monkeypatch.setattr(fanout, "DURABLE_WAIT_S", 3600.0)  # a wait would outlast the hang guard
    a, b = Wire(), Wire()
    out = FanoutSink([a, b])
    out.publish(event("P"))
    assert a.got.wait(60) and b.got.wait(60)
    out.close()
