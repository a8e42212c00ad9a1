"""The daemon's counters, their JSON snapshot (<state_dir>/stats.json) and the summary log line.

stats.json is rewritten atomically every few seconds and once more at exit ("final": true), so
tools (`alprd status`) and tests can read where a run stands without talking to the process; the
Prometheus endpoint (alprd.service.metrics) reads the same live objects.

Frame accounting: every descriptor a decoder sent ends up in exactly one of processed, dropped
(waited too long while inference was behind), stale (overwritten in its ring before it could be
read) or lost (in flight when the worker died) — or is still waiting or in flight. The totals
are kept, and the same figures per camera.
"""
from __future__ import annotations

import bisect
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from alprd.events import PlateEvent
from alprd.messages import BatchStats

log = logging.getLogger(__name__)

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Histogram:
    """Bucket counts as Prometheus keeps them (le = upper bounds; +Inf implied), plain Python so
    the main loop can observe without locks and stats.json can carry it."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        out, acc = [], 0
        for le, n in zip((*self.bounds, float("inf")), self.counts):
            acc += n
            out.append((le, acc))
        return out

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding the q-quantile (None when empty)."""
        if not self.count:
            return None
        target = q * self.count
        for le, acc in self.cumulative():
            if acc >= target:
                return le if le != float("inf") else self.bounds[-1]
        return None

    def to_json(self) -> dict:
        return {"buckets": [[le if le != float("inf") else "+Inf", n] for le, n in self.cumulative()],
                "sum": round(self.sum, 6), "count": self.count,
                "p50": self.quantile(0.5), "p95": self.quantile(0.95)}


@dataclass
class CameraCounters:
    received: int = 0
    processed: int = 0
    dropped: int = 0
    stale: int = 0
    lost: int = 0
    gated: int = 0     # frames the motion gate marked unchanged (not inferred)
    reads: int = 0
    events: dict[str, int] = field(default_factory=lambda: {k: 0 for k in PlateEvent.KINDS})


@dataclass
class Counters:
    frames_in: int = 0           # descriptors received from decoders
    frames_processed: int = 0    # FrameResults back from the worker
    frames_dropped: int = 0      # descriptors dropped while waiting (worker too slow)
    frames_stale: int = 0        # descriptors whose ring slot was overwritten before reading
    frames_lost: int = 0         # in flight when the worker died
    frames_gated: int = 0        # marked unchanged by a decoder's motion gate (not inferred)
    reads: int = 0
    batches: int = 0
    infer_s: float = 0.0
    events: dict[str, int] = field(default_factory=lambda: {k: 0 for k in PlateEvent.KINDS})
    cameras: dict[str, CameraCounters] = field(default_factory=dict)
    batch_latency: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS_S))
    batch_size: Histogram = field(default_factory=lambda: Histogram(BATCH_BUCKETS))

    def camera(self, cid: str) -> CameraCounters:
        c = self.cameras.get(cid)
        if c is None:
            c = self.cameras[cid] = CameraCounters()
        return c

    # -- what the main loop reports ------------------------------------------------------------
    def frame_received(self, cid: str) -> None:
        self.frames_in += 1
        self.camera(cid).received += 1

    def frame_gated(self, cid: str) -> None:
        self.frames_gated += 1
        self.camera(cid).gated += 1

    def frames_dropped_waiting(self, cid: str, n: int = 1) -> None:
        self.frames_dropped += n
        self.camera(cid).dropped += n

    def frames_lost_with_worker(self, by_camera: dict[str, int]) -> None:
        for cid, n in by_camera.items():
            self.frames_lost += n
            self.camera(cid).lost += n

    def batch_done(self, results, stats: BatchStats) -> None:
        """One Results message of the worker: its FrameResults and its BatchStats."""
        self.frames_processed += len(results)
        self.frames_stale += stats.stale
        processed: dict[str, int] = {}
        for r in results:
            processed[r.camera_id] = processed.get(r.camera_id, 0) + 1
            self.reads += len(r.reads)
            self.camera(r.camera_id).reads += len(r.reads)
        for cid, n in processed.items():
            self.camera(cid).processed += n
        for cid, n in stats.refs_by_camera.items():  # refs = processed + stale
            stale = n - processed.get(cid, 0)
            if stale > 0:
                self.camera(cid).stale += stale
        if results:
            self.batches += 1
            self.infer_s += stats.infer_s
            self.batch_latency.observe(stats.infer_s)
            self.batch_size.observe(len(results))

    def event(self, e: PlateEvent) -> None:
        self.events[e.kind] = self.events.get(e.kind, 0) + 1
        ev = self.camera(e.camera_id).events
        ev[e.kind] = ev.get(e.kind, 0) + 1


def snapshot(c: Counters, *, uptime_s: float, running_s: float, open_tracks: int,
             restarts: dict[str, int], decoders: dict[str, dict], sinks: dict[str, dict],
             crops: dict[str, int], **extra) -> dict:
    """The stats.json document; `extra` (pid, state, health, per-camera extras...) is merged in."""
    out = {
        "uptime_s": round(uptime_s, 3),
        "running_s": round(running_s, 3),  # since every child was up (the model loaded)
        "frames": {"received": c.frames_in, "processed": c.frames_processed,
                   "dropped": c.frames_dropped, "stale": c.frames_stale, "lost": c.frames_lost,
                   "gated": c.frames_gated},
        "processed_fps": round(c.frames_processed / running_s, 3) if running_s > 0 else 0.0,
        "batches": c.batches,
        "mean_batch": round(c.frames_processed / c.batches, 3) if c.batches else 0.0,
        "infer_s": round(c.infer_s, 3),
        "batch_latency_s": c.batch_latency.to_json(),
        "batch_size": c.batch_size.to_json(),
        "reads": c.reads,
        "events": dict(c.events),
        "open_tracks": open_tracks,
        "restarts": dict(restarts),
        "decoders": decoders,
        "cameras": {cid: asdict(cc) for cid, cc in list(c.cameras.items())},
        "sinks": sinks,
        "crops": crops,
    }
    out.update(extra)
    return out


_write_failing: set[Path] = set()


def write_atomic(path: Path, data: dict) -> bool:
    """Replace path with data's JSON at once; False if the disk refused. Then the old file's
    time is still touched (needs no space), so `alprd status` can tell a running daemon that
    cannot rewrite its figures (full disk) from one that is gone; logged once per streak."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        for undo in (lambda: tmp.unlink(missing_ok=True), lambda: os.utime(path)):
            try:
                undo()
            except OSError:
                pass
        if path not in _write_failing:
            _write_failing.add(path)
            log.warning("cannot write %s (%s); its figures stay as they were until it can", path,
                        exc.strerror or exc)
        return False
    if path in _write_failing:
        _write_failing.discard(path)
        log.info("%s is written again", path)
    return True


def summary(s: dict) -> str:
    f = s["frames"]
    decoded = int(sum(d.get("decoded", 0) for d in s["decoders"].values()))
    restarts = ", ".join(f"{k} {v}" for k, v in s["restarts"].items() if v) or "none"
    return (f"stopped after {s['uptime_s']:.1f} s: {decoded} frames decoded, {f['received']} sampled, "
            f"{f['processed']} processed ({s['processed_fps']:.1f} fps, mean batch {s['mean_batch']:.1f}), "
            f"{f['dropped']} dropped, {f['stale']} stale, {f['lost']} lost; {s['reads']} reads; "
            f"events: {s['events'].get('plate.preview', 0)} preview, {s['events'].get('plate.final', 0)} final; "
            f"restarts: {restarts}")
