"""The daemon behind `alprd run`: assembly, the main loop, signals, the orderly stop.

    decoder (one per camera) ──FrameReady──► main ──Frames──► inference worker
                                               ◄──Results──┘
    main: one tracker per camera (TrackRouter) → EventPath (crops, stages, fan-out) → sinks

Its rooms (docs/architecture.md): specs.py (the child processes), handlers.py (messages, by
type), relay.py (frames to the worker, with a credit of one batch; too-old frames skipped),
reload.py (the SIGHUP camera reload), health.py (what watchdog pings stand for), timers.py
(periodic duties), event_path.py (events to the sinks), report.py (the published snapshot).

Signals only record themselves; the loop acts. Orderly stop (SIGTERM, SIGINT, or every file
source at its end): the supervisor stops the children in reverse start order — the decoders
first, then the worker once every waiting frame has been processed — then every open track is
closed as a final event, the sinks are flushed and closed, and run() returns 0 (66 when every
source ended but one gave no frame at all: sources.py). A second signal skips the drain (children
are killed) but tracks and sinks are still flushed.
"""
from __future__ import annotations

import logging
import multiprocessing.connection
import os
import signal
import time
from pathlib import Path

from alprd.config import AppConfig, CameraConfig
from alprd.process import signals
from alprd.process.sdnotify import ServiceNotifier
from alprd.process.supervisor import ProcessSpec, Supervisor
from alprd.service import preflight, report, runstats, sources
from alprd.service.crops import CropStore
from alprd.service.event_path import EventPath
from alprd.service.handlers import MainHandlers
from alprd.service.health import Health
from alprd.service.relay import FrameRelay
from alprd.service.reload import CameraReloader
from alprd.service.specs import WORKER, camera_of, decoder_spec, web_spec, worker_spec
from alprd.service.timers import Timers
from alprd.parking import service as parking_service
from alprd.sinks.fanout import FanoutSink
from alprd.track.router import TrackRouter

log = logging.getLogger(__name__)

TICK_S = 0.5          # housekeeping: silent cameras, finished rings, sources, reloads, health, snapshot
STATS_INTERVAL_S = 5.0
PRUNE_INTERVAL_S = 3600.0


class Daemon:
    def __init__(self, cfg: AppConfig, *, sinks: list | None = None, pace_files: bool | None = None,
                 exit_when_sources_end: bool = True, stats_path: str | os.PathLike | None = None,
                 config_path: str | os.PathLike | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path  # what SIGHUP re-reads
        self.cameras = [preflight.resolved_camera(c) for c in cfg.cameras if c.enabled]
        self.pace_files = pace_files
        self.exit_when_sources_end = exit_when_sources_end
        self.stats_path = Path(stats_path) if stats_path else cfg.state_path("stats.json")
        self._sinks = sinks
        self._signals: list[int] = []
        self._force = False
        self.stop_reason: str | None = None
        self.exit_code = 0
        self.fatal: str | None = None
        self.worker_ready = False
        # Public state below is what report.py (the snapshot, STATUS=) reads; only the loop writes it.
        self.counters = runstats.Counters()
        self.relay = FrameRelay(cfg, [c.id for c in self.cameras], self.counters)
        self.decoder_stats: dict[str, object] = {}
        self.started_at = time.monotonic()
        self.running_since: float | None = None  # when every child was started (model loaded)
        self.state = "starting"
        self.notify = ServiceNotifier(ready_grace_s=cfg.defaults.open_timeout_s + 10.0)
        self.health = Health(self.notify.watchdog_s, time.monotonic())
        self.reloader = CameraReloader(self)
        self.handlers = MainHandlers(self)
        self.rates = report.RateMeter(time.monotonic())
        self.recent_fps: dict[str, float] = {}
        self.metrics = None
        self.snapshot: dict = {}  # the latest published by the loop: what other threads read
        self.timers = Timers()
        self.timers.every(TICK_S, self._housekeeping)
        self.timers.every(STATS_INTERVAL_S, lambda now: self._write_stats())
        self.timers.every(PRUNE_INTERVAL_S, lambda now: self.events.crops.prune_async())
        self.parking = parking_service.StageRunner(None)  # lists, matches, visits: built in run()
        self.timers.every(TICK_S, lambda now: self.parking.on_tick(now))  # visit expiry, recovery

    # -- assembly ------------------------------------------------------------------------------
    def specs(self) -> list[ProcessSpec]:
        """The children in start order (alprd.service.specs): the web console when enabled, the
        worker, then the decoders."""
        worker = worker_spec(self.cfg, lambda: self.cameras, self.relay.frames.drained)
        web = [web_spec(self.cfg)] if self.cfg.web.enabled else []
        return web + [worker] + [self.decoder_spec(cam) for cam in self.cameras]

    def decoder_spec(self, cam: CameraConfig) -> ProcessSpec:
        from alprd.stream.decoder import DecoderStats

        stats = self.decoder_stats[cam.id] = DecoderStats()
        return decoder_spec(self.cfg, cam, stats, self.pace_files)

    # -- running -------------------------------------------------------------------------------
    def run(self) -> int:
        from alprd.sinks.factory import build_sinks
        from alprd.stream.ring import remove_orphans

        remove_orphans()
        st = self.cfg.storage
        crops = CropStore(self.cfg.state_path("crops"), enabled=st.crops,
                          retention_days=st.crop_retention_days, max_mb=st.crop_max_mb)
        self.router = TrackRouter([c.id for c in self.cameras], self.cfg.tracking,
                                  inward=parking_service.inward_of(self.cameras))
        fanout = FanoutSink(self._sinks if self._sinks is not None else build_sinks(self.cfg))
        self.parking = parking_service.StageRunner(
            parking_service.build_stage(self.cfg, self.cameras, fanout.sinks), publish=fanout.publish)
        self.events = EventPath(crops, fanout, self.counters, stages=[self.parking])
        self.sup = Supervisor(self.specs())
        with signals.recorded(self._signals):  # the loop acts on them (_on_signals)
            self._run()
        return self.exit_code

    def _run(self) -> None:
        fanout = self.events.fanout
        log.info("alprd starting: %d camera(s), sinks: %s", len(self.cameras),
                 ", ".join(getattr(s, "name", "?") for s in fanout.sinks) or "none")
        self.publish_snapshot()
        self.metrics = report.start_metrics(self.cfg.metrics, self.stats)
        self.notify.status(f"starting: loading the model, {len(self.cameras)} camera(s)")
        try:
            if self.sup.start_all(pump=self._step, abort=lambda: self.stop_reason is not None):
                self.running_since = time.monotonic()
                self.state = "running"
                log.info("running")
                self.notify.running(self.running_since)
                if self.reloader.pending:  # a SIGHUP came while the children were starting
                    self.reloader.reload()
                while self.stop_reason is None:
                    self._step(0.2)
            elif self.stop_reason is None:
                self.request_stop(self.fatal or "the inference worker did not start", code=1)
            log.info("stopping (%s)", self.stop_reason)
            self.state = "stopping"
            self.notify.stopping()
            self.sup.stop_all(pump=self._step)
        finally:
            self.sup.kill_all()  # only does anything on an error path
            self._finish()

    def _step(self, timeout: float) -> None:
        """One turn of the main loop: signals, messages, child changes, dispatch, timers."""
        if self._signals:
            self._on_signals()
        try:
            ready = multiprocessing.connection.wait(self.sup.waitables(), timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            ready = []
        for child, msg in self.sup.receive(ready):
            self.handlers.on_message(child, msg)
        for change in self.sup.poll():
            self.handlers.on_change(change)
        self.dispatch()
        now = time.monotonic()
        self.timers.run_due(now)
        self.notify.tick(now, healthy=self.health.unhealthy is None)

    def dispatch(self) -> None:
        """Frames to the worker while it is ready (an orderly stop processes every waiting frame)."""
        if not self.worker_ready:
            return
        now = time.monotonic()
        send = lambda msg: self.sup.send(self.sup.child(WORKER), msg)  # noqa: E731
        if self.relay.dispatch(send, now, skip_late=self.stop_reason is None):
            self.health.progress(now)  # the stall clock starts with the first frame out

    def _housekeeping(self, now: float) -> None:
        for cid, stream_now in self.relay.silent(now, self.cfg.tracking.max_unseen_s):
            if self.router.open_tracks_of(cid):  # a dead stream, a file at its end: end its tracks
                self.events.publish(self.router.expire(cid, stream_now))
        self.relay.remove_ended_rings()
        self._check_sources()
        self.reloader.progress()
        self.health.check(now, in_flight=self.relay.frames.in_flight, running=self.running_since is not None,
                          ready_timeout_s=self.sup.child(WORKER).spec.ready_timeout_s)
        self.publish_snapshot()

    def _check_sources(self) -> None:
        if not self.exit_when_sources_end or self.stop_reason is not None:
            return
        decoders = {cid: c.state for c in self.sup.children if (cid := camera_of(c.name)) is not None}
        if sources.ended(decoders.values()):
            decoded = {cid: st.decoded for cid, st in self.decoder_stats.items() if cid in decoders}
            reason, code = sources.stop_reason(len(decoders), sources.unread(decoders, decoded))
            if code:
                log.error("%s", reason)
            self.request_stop(reason, code=code)

    # -- stopping ------------------------------------------------------------------------------
    def request_stop(self, reason: str | None = None, code: int = 0) -> None:
        """With a reason: stop (from the loop). Without: thread-safe orderly stop, as a signal."""
        if reason is None:
            self._signals.append(signal.SIGTERM)
        elif self.stop_reason is None:
            self.stop_reason = reason
            self.exit_code = code

    def _on_signals(self) -> None:
        for signum in signals.drain(self._signals):
            name = signal.Signals(signum).name
            if signum == signal.SIGHUP:
                if self.stop_reason is None:
                    self.reloader.request()
            elif self.stop_reason is None:
                self.request_stop(f"{name} received")
            elif not self._force:
                self._force = True
                log.warning("%s received again: not waiting for children or in-flight frames", name)
                self.sup.kill_all()
                self.relay.abandon()

    def _finish(self) -> None:
        """Close every open track as a final event, then flush and close the sinks."""
        try:
            self.relay.abandon()  # those the stop could not wait for: accounted, not forgotten
            events = self.router.flush()
            if events:
                log.info("closing %d open track(s)", len(events))
            self.events.publish(events)
        finally:
            self.relay.remove_ended_rings(every=True)
            if not self.events.close(timeout=30.0):
                self.exit_code = self.exit_code or 1
            self.state = "stopped"
            self._write_stats(final=True)
            log.info("%s", runstats.summary(self.snapshot))
            if self.metrics is not None:
                self.metrics.stop()
            self.notify.close()

    # -- reporting (report.py) -----------------------------------------------------------------
    def stats(self) -> dict:
        """The latest snapshot the loop published (stats.json, the metrics endpoint, `alprd
        status`). Safe from any thread: the loop replaces it whole, nobody mutates it."""
        return self.snapshot

    def publish_snapshot(self) -> dict:
        self.snapshot = report.snapshot(self)
        return self.snapshot

    def status_line(self) -> str:
        return report.status_line(self)

    def _write_stats(self, final: bool = False) -> None:
        report.write_stats(self, final)
