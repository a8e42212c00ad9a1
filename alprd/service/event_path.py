"""What happens to the trackers' events in the main process, in order:

    PlateEvents (with their crops) ─► crops stored (crop_path set, bytes dropped)
        ─► stages (each may add derived events after the event) ─► counters ─► fan-out (sinks)

A stage between the trackers and the fan-out (the parking stage: plate lists, visits) is an
object with ``process(event) -> list of derived events`` (and optionally ``close()``), passed in
``stages``; it never calls a sink: what it returns goes through the same fan-out, right after
its cause. A stage with its own clock (the parking stage's expiry) gets a Daemon timer that
emits through ``emit``.
"""
from __future__ import annotations

import logging
from typing import Protocol

from alprd.events import PlateEvent
from alprd.service.crops import CropStore
from alprd.service.runstats import Counters
from alprd.sinks.fanout import FanoutSink

log = logging.getLogger(__name__)


class Stage(Protocol):
    def process(self, event: PlateEvent) -> list: ...


class EventPath:
    def __init__(self, crops: CropStore, fanout: FanoutSink, counters: Counters, stages: list[Stage] = ()) -> None:
        self.crops = crops
        self.fanout = fanout
        self.counters = counters
        self.stages = list(stages)

    def publish(self, events: list[PlateEvent]) -> None:
        for e in events:
            e = self.crops.attach(e)  # the tracker hands crops on; they are stored here
            self.emit(e)
            for stage in self.stages:
                for derived in stage.process(e):  # right after their cause, same fan-out
                    self.emit(derived)

    def emit(self, event) -> None:
        """Count one event and hand it to the fan-out (a stage's own timer uses it too)."""
        self.counters.event(event)
        self.fanout.publish(event)

    def close(self, timeout: float) -> bool:
        """Flush and close the sinks, then close the stages; False if a sink could not finish."""
        ok = self.fanout.close(timeout=timeout)
        for stage in self.stages:
            close = getattr(stage, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - a stage's clean-up must not hide the stop
                    log.exception("closing stage %s failed", type(stage).__name__)
        return ok
