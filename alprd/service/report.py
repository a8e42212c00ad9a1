"""What the daemon says about itself: the stats snapshot (stats.json, the metrics endpoint,
`alprd status`), the one-line STATUS= text for systemd, and processed-fps rates.

Read-only views of a running Daemon (its public attributes only), kept out of its control loop.
The loop builds the snapshot (Daemon.publish_snapshot) and publishes it whole; other threads (the
metrics server's) only ever read a published snapshot, never the live state.
"""
from __future__ import annotations

import os
import time

from alprd.service import runstats


class RateMeter:
    """Per-camera rates of a growing count (frames processed) between successive updates."""

    def __init__(self, now: float) -> None:
        self._mark: tuple[float, dict[str, int]] = (now, {})

    def update(self, counts: dict[str, int], now: float) -> dict[str, float]:
        t, before = self._mark
        self._mark = (now, dict(counts))
        if now - t <= 0:
            return {}
        return {cid: round((n - before.get(cid, 0)) / (now - t), 3) for cid, n in counts.items()}


def snapshot(d) -> dict:
    """The daemon's state and counters as one JSON-able dict (runstats.snapshot's layout)."""
    now = time.monotonic()
    decoders = {cid: s.snapshot() for cid, s in list(d.decoder_stats.items())}
    children = {c.name: c for c in list(d.sup.children)}
    cameras = {}
    for cam in list(d.cameras):
        cid = cam.id
        c = d.counters.cameras.get(cid) or runstats.CameraCounters()
        child = children.get(f"decoder:{cid}")
        tracker = d.router.trackers.get(cid)
        cameras[cid] = {**vars(c), "events": dict(c.events),
                        "waiting": d.relay.frames.waiting_of(cid),
                        "in_flight": d.relay.frames.in_flight_of(cid),
                        "open_tracks": tracker.open_tracks if tracker else 0,
                        "fps": d.recent_fps.get(cid, 0.0),
                        "connected": bool(decoders.get(cid, {}).get("connected")),
                        "state": "removing" if cid in d.reloader.retiring else (child.state if child else "?"),
                        "url": masked(cam.url)}
    return runstats.snapshot(
        d.counters, uptime_s=now - d.started_at,
        running_s=now - d.running_since if d.running_since is not None else 0.0,
        open_tracks=d.router.open_tracks, restarts=d.sup.restarts,
        decoders=decoders, sinks=d.events.fanout.status(), crops=d.events.crops.status(),
        cameras=cameras, pid=os.getpid(), state=d.state,
        healthy=d.health.unhealthy is None, health=d.health.unhealthy, in_flight=d.relay.frames.in_flight,
        recent_fps=round(sum(d.recent_fps.values()), 3), reloads=dict(d.reloader.counts),
        metrics_url=d.metrics.url if d.metrics is not None else None,
        config=str(d.config_path) if d.config_path else None,
        parking=d.parking.status() if getattr(d, "parking", None) is not None else None,
        written_at=time.time())


def status_line(d) -> str:
    """STATUS= text: what `systemctl status alprd` shows."""
    up = [c.id for c in d.cameras if d.decoder_stats.get(c.id) is not None
          and d.decoder_stats[c.id].connected]
    down = [c.id for c in d.cameras if c.id not in up]
    cams = f"{len(up)}/{len(d.cameras)} cameras up" + (f" (down: {', '.join(down[:5])}"
                                                       f"{', ...' if len(down) > 5 else ''})" if down else "")
    text = (f"{cams}, {sum(d.recent_fps.values()):.1f} fps, {d.router.open_tracks} open tracks, "
            f"{d.counters.events.get('plate.final', 0)} plates")
    return f"UNHEALTHY: {d.health.unhealthy}; {text}" if d.health.unhealthy else text


def masked(url: str) -> str:
    from alprd.stream.source import mask_url

    return mask_url(url)


def write_stats(d, final: bool = False) -> None:
    """Publish a fresh snapshot and write it to stats.json (rates of the interval first; the
    final write keeps the last rates); STATUS= follows while running."""
    if not final:
        d.recent_fps = d.rates.update({cid: c.processed for cid, c in list(d.counters.cameras.items())},
                                       time.monotonic())
    data = dict(d.publish_snapshot(), final=final)
    if d.running_since is not None and not final:
        d.notify.status(d.status_line())
    runstats.write_atomic(d.stats_path, data)


def start_metrics(cfg, stats):
    """The Prometheus endpoint reading stats() (the published snapshot), or None (disabled, or
    its port is taken: logged, the daemon runs on without it)."""
    if not cfg.enabled:
        return None
    from alprd.service.metrics import MetricsServer

    server = MetricsServer(stats, cfg.bind, cfg.port)
    return server if server.start() else None
