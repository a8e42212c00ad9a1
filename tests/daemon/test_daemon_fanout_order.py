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
    """A durable sink whose publish() takes `delay` seconds (a slow fdatasync)."""

    name = "spool"
    durable = True

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.done: dict[str, float] = {}

    def publish(self, e) -> None:
        time.sleep(self.delay)
        self.done[e.event_id] = time.monotonic()

    def flush(self, timeout=None) -> None:
        pass

    def close(self) -> None:
        pass


class Wire:
    name = "bus"

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.got = threading.Event()

    def publish(self, e) -> None:
        self.seen[e.event_id] = time.monotonic()
        self.got.set()

    def flush(self, timeout=None) -> None:
        pass

    def close(self) -> None:
        pass


def test_other_sinks_get_an_event_only_after_the_durable_sink_has_it():
    disk, wire = SlowDisk(0.3), Wire()
    out = FanoutSink([wire, disk])  # order of the list does not matter
    evs = [event(f"P{i}") for i in range(3)]
    t0 = time.monotonic()
    for e in evs:
        out.publish(e)
    assert out.flush(5)
    for e in evs:
        assert wire.seen[e.event_id] >= disk.done[e.event_id], "the bus got ahead of the spool"
    assert time.monotonic() - t0 < 3
    out.close()


def test_a_hung_durable_sink_delays_the_others_only_boundedly(monkeypatch):
    monkeypatch.setattr(fanout, "DURABLE_WAIT_S", 0.3)
    disk, wire = SlowDisk(5.0), Wire()
    out = FanoutSink([disk, wire])
    t0 = time.monotonic()
    out.publish(event("P"))
    assert wire.got.wait(3), "the bus waited for a hung disk without bound"
    assert 0.25 <= time.monotonic() - t0 < 3
    out.close(timeout=0.1)


def test_without_a_durable_sink_nothing_waits():
    a, b = Wire(), Wire()
    out = FanoutSink([a, b])
    out.publish(event("P"))
    assert a.got.wait(1) and b.got.wait(1)
    out.close()
