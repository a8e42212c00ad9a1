"""What the webhook and MQTT sinks share: the delivery record, its filter, its counters, give-up.

Both are durable sinks (alprd.sinks.durable): publish() spools a *delivery record*, one writer
thread per target hands records on in order. The record wraps the event with the wall time it was
spooled (so "give up after give_up_after_s" holds across restarts) and, when asked, the plate crop
read at spool time (so crop retention cannot take it away before a retry):

    {"spooled_at": 1764990000.25, "event": {...the event JSON...}, "crop_jpeg": "<base64>" | null}

A target's write() returns the records it gives up on as ``Rejected`` (the mechanism keeps them
in rejected.jsonl and logs them) after counting them here as given up.
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alprd.config import DeliveryConfig
from alprd.sinks.durable import DurableSettings, DurableSink, Rejected, Target


STOP_WAIT_S = 5.0  # how long a stop waits for a slow target: the rest stays spooled for next start


@dataclass(frozen=True)
class _Envelope:
    """What DurableSink.publish() spools: anything with to_json()."""

    record: str

    def to_json(self) -> str:
        return self.record


@dataclass(frozen=True)
class Delivery:
    """One spooled delivery record, decoded."""

    spooled_at: float
    event: dict[str, Any]
    crop_jpeg: str | None
    line: str

    @property
    def event_id(self) -> str:
        return str(self.event.get("event_id", ""))

    @property
    def kind(self) -> str:
        return str(self.event.get("kind", ""))

    @classmethod
    def parse(cls, line: str) -> "Delivery":
        d = json.loads(line)
        if not isinstance(d, dict) or not isinstance(d.get("event"), dict) or "kind" not in d["event"]:
            raise ValueError("not a delivery record")
        return cls(float(d.get("spooled_at", 0.0)), d["event"], d.get("crop_jpeg"), line)


def read_crop(path: str | None, roots: list[Path]) -> str | None:
    """The crop JPEG as base64, or None when it is missing (a full disk saves events without)."""
    if not path:
        return None
    p = Path(path)
    for cand in [p] if p.is_absolute() else [p, *(r / p for r in roots)]:
        try:
            return base64.b64encode(cand.read_bytes()).decode("ascii")
        except OSError:
            continue
    return None


class DeliveryCounters:
    """Thread-safe counters every delivery target reports (metrics(), stats.json, Prometheus)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered = 0
        self.retried = 0     # failed attempts that will be tried again
        self.given_up = 0    # records dropped after give_up_after_s (kept in rejected.jsonl)
        self.refused = 0     # records the target refused for their content (kept there too)
        self.pending = 0     # records spooled and not yet delivered or given up

    def add(self, **kw: int) -> None:
        with self._lock:
            for k, v in kw.items():
                setattr(self, k, getattr(self, k) + v)

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return {"delivered": self.delivered, "retried": self.retried, "given_up": self.given_up,
                    "refused": self.refused, "pending": max(self.pending, 0)}


def give_up(d: Delivery, cfg: DeliveryConfig, counters: DeliveryCounters, where: str, why: str,
            now: float | None = None) -> Rejected | None:
    """The Rejected to return for a record failing longer than give_up_after_s, else None."""
    age = (time.time() if now is None else now) - d.spooled_at
    if age < cfg.give_up_after_s:
        return None
    counters.add(given_up=1, pending=-1)
    # the mechanism logs the Rejected (with this reason) and keeps it in rejected.jsonl
    return Rejected(d.line, f"gave up on event {d.event_id} ({d.kind}) after {age:.0f} s of failed "
                            f"deliveries to {where}: {why}")


def count_pending(sink: DurableSink) -> int:
    """Records in the spool not yet acknowledged (read once at start, then counted)."""
    n, pos = 0, sink.spool.acked
    while True:
        lines, pos = sink.spool.read(pos, 1000)
        if not lines:
            return n
        n += len(lines)


class DeliverySink:
    """A Sink for one delivery target: filters events, spools delivery records, reports figures.

    Its durable flag lets the fan-out hand it each event before the bus and JSONL get it, so an
    event a subscriber saw is in this target's spool too after a kill -9.
    """

    durable = True

    def __init__(self, name: str, cfg: DeliveryConfig, target: Target, counters: DeliveryCounters,
                 spool_dir: str | Path, *, batch_size: int = 1, attach_crop: bool = False,
                 crop_roots: list[Path] | None = None, fsync: bool = True,
                 label: str | None = None, logger: logging.Logger | None = None) -> None:
        self.name = name
        self.cfg = cfg
        self.counters = counters
        self._kinds = set(cfg.kinds)
        self._cameras = set(cfg.cameras)
        self._attach_crop = attach_crop
        self._crop_roots = crop_roots or []
        settings = DurableSettings(batch_size=batch_size, flush_interval_s=0.05,
                                   retry_max_s=cfg.retry_max_s, spool_max_mb=cfg.spool_max_mb,
                                   fsync=fsync)
        self.durable_sink = DurableSink(name, target, spool_dir, settings, label=label, log=logger,
                                        start=False)
        # counted before the first delivery: one acknowledged meanwhile would be subtracted twice
        counters.add(pending=count_pending(self.durable_sink))
        self.durable_sink.start()

    def accepts(self, event) -> bool:
        return ((not self._kinds or event.kind in self._kinds)
                and (not self._cameras or getattr(event, "camera_id", None) in self._cameras))

    def publish(self, event) -> None:
        if not self.accepts(event):
            return
        crop = None
        if self._attach_crop:
            crop = read_crop(getattr(event, "crop_path", None), self._crop_roots)
        record = json.dumps({"spooled_at": round(time.time(), 3), "event": event.to_dict(),
                             "crop_jpeg": crop}, ensure_ascii=False, separators=(",", ":"))
        before = self.durable_sink.spool.appended_records
        self.durable_sink.publish(_Envelope(record))
        self.counters.add(pending=self.durable_sink.spool.appended_records - before)

    def flush(self, timeout: float | None = None) -> bool:
        return self.durable_sink.flush(STOP_WAIT_S if timeout is None else min(timeout, STOP_WAIT_S))

    def close(self) -> None:
        self.durable_sink.close(STOP_WAIT_S)

    @property
    def available(self) -> bool:
        return self.durable_sink.available

    def metrics(self) -> dict:
        """The mechanism's figures (spool_bytes, available, rejected = records moved to
        rejected.jsonl, given up ones included) and the target's counters."""
        return self.durable_sink.metrics()
