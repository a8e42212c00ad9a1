"""The daemon's counters, their JSON snapshot (<state_dir>/stats.json) and the summary log line.

stats.json is rewritten atomically every few seconds and once more at exit ("final": true), so
tools and tests can read where a run stands without talking to the process.
Frame accounting: every descriptor a decoder sent ends up in exactly one of processed, dropped
(waited too long while inference was behind), stale (overwritten in its ring before it could be
read) or lost (in flight when the worker died) — or is still waiting or in flight.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from alprd.events import PlateEvent

log = logging.getLogger(__name__)


@dataclass
class Counters:
    frames_in: int = 0           # descriptors received from decoders
    frames_processed: int = 0    # FrameResults back from the worker
    frames_dropped: int = 0      # descriptors dropped while waiting (worker too slow)
    frames_stale: int = 0        # descriptors whose ring slot was overwritten before reading
    frames_lost: int = 0         # in flight when the worker died
    reads: int = 0
    batches: int = 0
    infer_s: float = 0.0
    events: dict[str, int] = field(default_factory=lambda: {k: 0 for k in PlateEvent.KINDS})


def snapshot(c: Counters, *, uptime_s: float, running_s: float, open_tracks: int,
             restarts: dict[str, int], decoders: dict[str, dict], sinks: dict[str, dict],
             crops: dict[str, int]) -> dict:
    return {
        "uptime_s": round(uptime_s, 3),
        "running_s": round(running_s, 3),  # since every child was up (the model loaded)
        "frames": {"received": c.frames_in, "processed": c.frames_processed,
                   "dropped": c.frames_dropped, "stale": c.frames_stale, "lost": c.frames_lost},
        "processed_fps": round(c.frames_processed / running_s, 3) if running_s > 0 else 0.0,
        "batches": c.batches,
        "mean_batch": round(c.frames_processed / c.batches, 3) if c.batches else 0.0,
        "infer_s": round(c.infer_s, 3),
        "reads": c.reads,
        "events": dict(c.events),
        "open_tracks": open_tracks,
        "restarts": dict(restarts),
        "decoders": decoders,
        "sinks": sinks,
        "crops": crops,
    }


def write_atomic(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("cannot write %s: %s", path, exc)


def summary(s: dict) -> str:
    f = s["frames"]
    decoded = int(sum(d.get("decoded", 0) for d in s["decoders"].values()))
    restarts = ", ".join(f"{k} {v}" for k, v in s["restarts"].items() if v) or "none"
    return (f"stopped after {s['uptime_s']:.1f} s: {decoded} frames decoded, {f['received']} sampled, "
            f"{f['processed']} processed ({s['processed_fps']:.1f} fps, mean batch {s['mean_batch']:.1f}), "
            f"{f['dropped']} dropped, {f['stale']} stale, {f['lost']} lost; {s['reads']} reads; "
            f"events: {s['events'].get('plate.preview', 0)} preview, {s['events'].get('plate.final', 0)} final; "
            f"restarts: {restarts}")
