"""The daemon's rooms alone, with plain inputs: health, timers, the event path."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from alprd.events import PlateEvent
from alprd.service.crops import CropStore
from alprd.service.event_path import EventPath
from alprd.service.health import Health
from alprd.service.runstats import Counters
from alprd.service.timers import Timers
from alprd.sinks.jsonl import JsonlSink
from alprd.sinks.fanout import FanoutSink


def test_health_says_why_once_and_recovers(caplog):
    h = Health(watchdog_s=None, now=0.0)  # no watchdog: a 60 s stall is stuck
    caplog.set_level(logging.INFO)
    h.worker_up()
    h.progress(10.0)
    h.check(69.0, in_flight=3, running=True, ready_timeout_s=300)
    assert h.unhealthy is None
    h.check(71.0, in_flight=3, running=True, ready_timeout_s=300)
    h.check(72.0, in_flight=3, running=True, ready_timeout_s=300)
    assert h.unhealthy and "has not answered for 62 s with 3 frame(s) in flight" in h.unhealthy
    h.worker_down(72.0)  # killed: its frames are lost, nothing is in flight any more
    h.check(100.0, in_flight=0, running=True, ready_timeout_s=300)
    assert h.unhealthy is None
    h.check(373.0, in_flight=0, running=True, ready_timeout_s=300)
    assert "has not been ready for 301 s" in h.unhealthy
    said = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("unhealthy:") for m in said) == 2 and said.count("healthy again") == 1


def test_timers_run_each_duty_at_its_own_interval():
    ran = []
    t = Timers()
    t.every(0.5, lambda now: ran.append(("tick", now)))
    t.every(5.0, lambda now: ran.append(("stats", now)))
    for now in (0.0, 0.3, 0.6, 1.2, 5.1):
        t.run_due(now)
    assert ran == [("tick", 0.0), ("stats", 0.0), ("tick", 0.6), ("tick", 1.2), ("tick", 5.1), ("stats", 5.1)]


class _Stage:
    """A stage as the parking stage is one: derived events for an event, closed at the end."""

    def __init__(self, out) -> None:
        self.seen: list[PlateEvent] = []
        self.out = out
        self.lines_at_close = None

    def process(self, event):
        self.seen.append(event)
        return [PlateEvent(**{**_fields(event), "kind": "plate.preview", "track_id": 99})]

    def close(self):
        self.lines_at_close = len(self.out.read_text().splitlines())


def _fields(e: PlateEvent) -> dict:
    return {k: getattr(e, k) for k in ("kind", "camera_id", "track_id", "plate", "confidence", "first_seen",
                                       "last_seen", "reads")}


def test_event_path_stores_the_crop_then_the_stage_adds_its_events_after_their_cause(tmp_path):
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    final = PlateEvent(kind="plate.final", camera_id="gate", track_id=1, plate="A", confidence=0.9,
                       first_seen=t, last_seen=t, reads=3, crop_jpeg=b"\xff\xd8jpeg")
    sink = JsonlSink(tmp_path / "events.jsonl")
    stage = _Stage(tmp_path / "events.jsonl")
    counters = Counters()
    path = EventPath(CropStore(tmp_path / "crops"), FanoutSink([sink]), counters, stages=[stage])
    path.publish([final])
    assert path.close(timeout=120)
    [seen] = stage.seen
    assert seen.crop_path and seen.crop_jpeg is None  # the stage sees the stored crop, not the bytes
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert '"track_id":1,' in lines[0] and '"track_id":99,' in lines[1]  # derived right after its cause
    assert counters.events == {"plate.preview": 1, "plate.final": 1}
    assert stage.lines_at_close == 2  # the stage closes after the sinks have flushed everything
