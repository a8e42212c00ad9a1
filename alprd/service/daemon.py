"""The daemon behind `alprd run`: the process specs, the main loop, the orderly stop.

    decoder (one per camera) ──FrameRef──► main ──FrameRefs──► inference worker
                                             ◄──FrameResults──┘
    main: one tracker per camera (TrackRouter) → crops → FanoutSink → stdout / JSONL / SQL / bus

The main process relays frame descriptors to the worker with a credit (at most max_batch in
flight), so it always knows which frames are in flight; per camera it keeps at most ring_slots
descriptors waiting (older ones point at ring slots already overwritten: dropped and counted),
and skips (drops, counted) those that waited longer than inference.max_queue_ms: a daemon that
falls behind stays current (latest frames, low event latency) instead of lagging by its queue.

Signals only set a flag; the loop acts. Orderly stop (SIGTERM, SIGINT, or every file source at
its end): the supervisor stops the children in reverse start order — the decoders first, then
the worker once every waiting frame has been processed — then every open track is closed as a
final event, the sinks are flushed and closed, and run() returns 0. A second signal skips the
drain (children are killed) but tracks and sinks are still flushed.

Service duties (docs/service.md): sd_notify through ServiceNotifier (READY once frames come back,
STATUS, WATCHDOG only while healthy), the Prometheus endpoint (service/metrics.py, reading the
same snapshot as stats.json), SIGHUP reloads of the camera list (service/reload.py), crop
retention in a background thread.
"""
from __future__ import annotations

import logging
import multiprocessing.connection
import os
import signal
import threading
import time
from pathlib import Path

from alprd.config import AppConfig, CameraConfig, camera_fps
from alprd.events import PlateEvent
from alprd.parking import service as parking_service
from alprd.service import preflight, reload, report, runstats
from alprd.service.crops import CropStore
from alprd.service.dispatch import FrameDispatcher
from alprd.service.sdnotify import ServiceNotifier
from alprd.service.supervisor import (FATAL, FINISHED, RUNNING, STOPPING, ProcessSpec, RestartPolicy,
                                      Supervisor)
from alprd.sinks.fanout import FanoutSink
from alprd.track.router import TrackRouter

log = logging.getLogger(__name__)

WORKER = "worker"
STATS_INTERVAL_S = 5.0
PRUNE_INTERVAL_S = 3600.0
STALL_S = 60.0  # a worker holding frames this long without answering is stuck (no watchdog: reported only)


# ---------------------------------------------------------------------------------------------
# The decoder's process body: the stream module's run_decoder, fed into the channel.


class _ChannelQueue:
    """The out_queue run_decoder expects, sending each FrameRef to the main process."""

    def __init__(self, channel) -> None:
        self.channel = channel

    def put_nowait(self, ref) -> None:
        self.channel.send("frame", ref)  # never full: the main process reads continuously


def decoder_main(channel, *, camera, defaults, fps: float, stats, realtime: bool | None) -> int:
    from alprd.stream.decoder import run_decoder

    run_decoder(camera, defaults, fps, _ChannelQueue(channel), channel.stop_event, stats, realtime=realtime,
                keep_ring_at_end=True)  # its last frames may still wait for a (restarting) worker
    return 0


def worker_main(channel, **kwargs) -> int:
    from alprd.infer.worker import run_worker

    return run_worker(channel, **kwargs)


# ---------------------------------------------------------------------------------------------


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
        self.counters = runstats.Counters()
        self._sinks = sinks
        self._signals: list[int] = []
        self._stop_reason: str | None = None
        self._force = False
        self._ended_rings: set[str] = set()  # cameras whose decoder finished, ring left for the worker
        self.frames = FrameDispatcher(  # the credit is the worker's batch size: its "ready" says
            [c.id for c in self.cameras], slots=cfg.defaults.ring_slots,
            credit=cfg.inference.batch_for(cfg.inference.device),
            max_queue_s=cfg.inference.max_queue_ms / 1000.0)
        # camera -> (stream timestamp of the latest frame its decoder sent, monotonic arrival)
        self._last_frame: dict[str, tuple[float, float]] = {}
        self._worker_ready = False
        self._fatal: str | None = None
        # Public state below is what report.py (stats.json, STATUS=) reads; only the loop writes it.
        self.decoder_stats: dict[str, object] = {}
        self.started_at = time.monotonic()
        self.running_since: float | None = None  # when every child was started (model loaded)
        self._next_tick = self._next_stats = self._next_prune = 0.0
        self.exit_code = 0
        self.notify = ServiceNotifier(ready_grace_s=cfg.defaults.open_timeout_s + 10.0)
        # Health: a worker that holds frames without answering for stall_s is stuck; with a
        # systemd watchdog that is one WatchdogSec (pings stop, systemd restarts the service).
        self.stall_s = 2 * self.notify.watchdog_s if self.notify.watchdog_s else STALL_S
        self._progress_at = time.monotonic()  # latest results, or when frames went in flight
        self._worker_down_since: float | None = time.monotonic()
        self.unhealthy: str | None = None
        self.state = "starting"
        self.retiring: set[str] = set()           # cameras removed by a reload, draining
        self._adding: list[CameraConfig] = []      # cameras waiting for their id to be free
        self.reloads = {"ok": 0, "failed": 0}
        self._reload_pending = False
        self._rates = report.RateMeter(time.monotonic())
        self.recent_fps: dict[str, float] = {}
        self.metrics = None
        self.parking = parking_service.StageRunner(None)  # the stage is built in run()

    # -- assembly ------------------------------------------------------------------------------
    def specs(self) -> list[ProcessSpec]:
        cfg = self.cfg
        specs = [ProcessSpec(
            WORKER, worker_main,  # kwargs built at each start: a restart sees reloaded cameras
            kwargs=lambda: dict(inference=cfg.inference, cameras=list(self.cameras), crops=cfg.storage.crops),
            restart=RestartPolicy("always", 1.0, 30.0), stop_timeout_s=30.0,
            torch_threads=cfg.inference.threads, ready_to_stop=self._drained, wait_ready=True)]
        return specs + [self._decoder_spec(cam) for cam in self.cameras]

    def _decoder_spec(self, cam: CameraConfig) -> ProcessSpec:
        from alprd.stream.decoder import DecoderStats

        d = self.cfg.defaults
        stats = DecoderStats()
        self.decoder_stats[cam.id] = stats
        return ProcessSpec(
            f"decoder:{cam.id}", decoder_main,
            kwargs=dict(camera=cam, defaults=d, fps=camera_fps(self.cfg, cam), stats=stats,
                        realtime=self.pace_files),
            restart=RestartPolicy("on-failure", d.reconnect_min_s, d.reconnect_max_s),
            stop_timeout_s=max(d.open_timeout_s, d.read_timeout_s) + 5.0)

    # -- running -------------------------------------------------------------------------------
    def run(self) -> int:
        from alprd.sinks.factory import build_sinks
        from alprd.stream.ring import remove_orphans

        remove_orphans()
        self.crops = CropStore(self.cfg.state_path("crops"), enabled=self.cfg.storage.crops,
                               retention_days=self.cfg.storage.crop_retention_days,
                               max_mb=self.cfg.storage.crop_max_mb)
        self.router = TrackRouter([c.id for c in self.cameras], self.cfg.tracking,
                                  inward=parking_service.inward_of(self.cameras))
        self.fanout = FanoutSink(self._sinks if self._sinks is not None else build_sinks(self.cfg))
        self.parking = parking_service.StageRunner(  # lists, matches, visits (alprd/parking)
            parking_service.build_stage(self.cfg, self.cameras, self.fanout.sinks))
        self.sup = Supervisor(self.specs())
        previous = self._install_signal_handlers()
        log.info("alprd starting: %d camera(s), sinks: %s", len(self.cameras),
                 ", ".join(getattr(s, "name", "?") for s in self.fanout.sinks) or "none")
        self._start_metrics()
        self.notify.status(f"starting: loading the model, {len(self.cameras)} camera(s)")
        try:
            if self.sup.start_all(pump=self._step, abort=lambda: self._stop_reason is not None):
                self.running_since = time.monotonic()
                self.state = "running"
                log.info("running")
                self.notify.running(self.running_since)
                if self._reload_pending:  # a SIGHUP came while the children were starting
                    self._reload()
                while self._stop_reason is None:
                    self._step(0.2)
            elif self._stop_reason is None:
                self._request_stop(self._fatal or "the inference worker did not start", code=1)
            log.info("stopping (%s)", self._stop_reason)
            self.state = "stopping"
            self.notify.stopping()
            self.sup.stop_all(pump=self._step)
        finally:
            self.sup.kill_all()  # only does anything on an error path
            self._finish()
            self._restore_signal_handlers(previous)
        return self.exit_code

    def _step(self, timeout: float) -> None:
        """One turn of the main loop: messages, child changes, dispatch, timers, signals."""
        if self._signals:
            self._on_signal()
        try:
            ready = multiprocessing.connection.wait(self.sup.waitables(), timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            ready = []
        for child, msg in self.sup.receive(ready):
            self._on_message(child, msg)
        for change in self.sup.poll():
            self._on_change(change)
        self._dispatch()
        now = time.monotonic()
        if now >= self._next_tick:
            self._next_tick = now + 0.5
            self._expire_silent_cameras(now)
            self._remove_ended_rings()
            self._check_sources()
            self._progress_reload()
            self._check_health(now)
            self._publish_derived(self.parking.tick(now))
        self.notify.tick(now, healthy=self.unhealthy is None)
        if now >= self._next_stats:
            self._next_stats = now + STATS_INTERVAL_S
            self._write_stats()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_INTERVAL_S
            self.crops.prune_async()

    def _on_message(self, child, msg: tuple) -> None:
        kind = msg[0]
        if kind == "frame":
            ref = msg[1]
            if ref.camera_id not in self.frames:
                return
            self.counters.frame_received(ref.camera_id)
            now = time.monotonic()
            self._last_frame[ref.camera_id] = (ref.timestamp, now)
            dropped = self.frames.received(ref, now)
            if dropped:
                self.counters.frames_dropped_waiting(ref.camera_id, dropped)
        elif kind == "results":
            _, results, n_refs, stats = msg
            self._progress_at = time.monotonic()
            self.frames.done(stats.get("refs_by_camera", {}))
            self.counters.batch_done(results, stats)
            for result in results:
                if result.camera_id in self.router.trackers:
                    self._publish(self.router.update(result))
            if results and not self.notify.ready_sent:
                log.info("frames are flowing")
                self.notify.frames_flowing(self._status_line())
        elif kind == "ready" and child.name == WORKER:
            self._worker_ready = True
            self.frames.credit = int(msg[1].get("max_batch") or self.frames.credit)
            self._worker_down_since = None
            if not msg[1].get("trained", True):
                log.warning("the model weights are untrained: frames are processed but no plate is read")
        else:
            log.debug("%s: unexpected message %r", child.name, kind)

    def _on_change(self, change) -> None:
        child = change.child
        if child.name == WORKER:
            if change.kind == "exited":
                self._worker_ready = False
                self._worker_down_since = time.monotonic()
                lost = self.frames.lose_in_flight()
                if lost:
                    log.warning("%d frame(s) in flight were lost with the worker", sum(lost.values()))
                    self.counters.frames_lost_with_worker(lost)
                if child.state == FATAL:
                    self._fatal = f"the inference worker failed: {child.fatal_message}"
                    self._request_stop(self._fatal, code=1)
        elif change.kind == "exited":
            from alprd.stream.ring import remove_orphans

            if change.exitcode != 0:
                remove_orphans()  # a killed decoder could not unlink its ring
            else:  # at the end of its file it left its ring: frames in it may still wait
                self._ended_rings.add(child.name.split(":", 1)[1])

    def _check_sources(self) -> None:
        if not self.exit_when_sources_end or self._stop_reason is not None:
            return
        decoders = [c for c in self.sup.children if c.name != WORKER]
        if decoders and all(c.state in (FINISHED, FATAL) for c in decoders):
            self._request_stop("every source has ended")

    def _dispatch(self) -> None:
        if not self._worker_ready:
            return
        now = time.monotonic()
        if self._stop_reason is None:  # an orderly stop processes every frame still waiting
            for cid, n in self.frames.skip_late(now).items():
                self.counters.frames_dropped_waiting(cid, n)
        batch = self.frames.take()
        if not batch:
            return
        if self.sup.send(self.sup.child(WORKER), "frames", batch):
            if not self.frames.in_flight:
                self._progress_at = now  # the stall clock starts with the first frame out
            self.frames.sent(batch)
        else:  # worker going away: put them back, oldest first
            self.frames.put_back(batch, now)

    def _expire_silent_cameras(self, now: float) -> None:
        """A camera whose decoder has sent nothing for max_unseen_s (a dead stream, a file at
        its end) ends its tracks on its own clock: the timestamp of its latest frame advanced by
        the time since. A camera whose frames are merely still being inferred is not silent."""
        quiet = self.cfg.tracking.max_unseen_s
        for cid, (ts, arrived) in self._last_frame.items():
            if (now - arrived > quiet and not self.frames.busy(cid)
                    and self.router.open_tracks_of(cid)):
                self._publish(self.router.expire(cid, ts + (now - arrived)))

    def _remove_ended_rings(self, every: bool = False) -> None:
        """Unlink the rings finished decoders left behind once their frames are all processed."""
        from alprd.stream.ring import remove_orphans

        for cid in list(self._ended_rings):
            if every or not self.frames.busy(cid):
                remove_orphans(camera=cid)
                self._ended_rings.discard(cid)

    def _abandon_frames(self) -> None:
        """Give up on every frame still waiting (dropped) or in flight (lost), counting each."""
        for cid, n in self.frames.clear_waiting().items():
            self.counters.frames_dropped_waiting(cid, n)
        self.counters.frames_lost_with_worker(self.frames.lose_in_flight())

    def _drained(self) -> bool:
        return self.frames.drained()

    def _publish(self, events: list[PlateEvent]) -> None:
        for e in events:
            e = self.crops.attach(e)  # the tracker hands crops on; they are stored here
            self.counters.event(e)
            self.fanout.publish(e)
            self._publish_derived(self.parking.derive(e))  # right after their cause, same fan-out

    def _publish_derived(self, events: list) -> None:
        for d in events:
            self.counters.event(d)
            self.fanout.publish(d)

    # -- health (what the watchdog pings stand for) --------------------------------------------
    def _check_health(self, now: float) -> None:
        why = None
        if self.frames.in_flight and now - self._progress_at > self.stall_s:
            why = (f"the inference worker has not answered for {now - self._progress_at:.0f} s "
                   f"with {self.frames.in_flight} frame(s) in flight")
        elif self._worker_down_since is not None and self.running_since is not None:
            limit = self.sup.child(WORKER).spec.ready_timeout_s
            if now - self._worker_down_since > limit:
                why = f"the inference worker has not been ready for {now - self._worker_down_since:.0f} s"
        if why and not self.unhealthy:
            log.error("unhealthy: %s%s", why, "; withholding watchdog pings" if self.notify.watchdog_s else "")
        elif self.unhealthy and not why:
            log.info("healthy again")
        self.unhealthy = why

    # -- SIGHUP: reload the camera list (service/reload.py) ------------------------------------
    def _reload(self) -> None:
        self._reload_pending = False
        if self.config_path is None:
            log.warning("SIGHUP: no configuration file to reload (the daemon was started without one)")
            return
        self.notify.reloading()
        new, error = reload.load(self.config_path)
        if new is None:
            self.reloads["failed"] += 1
            log.error("reload failed, keeping the running configuration: %s", error)
            self.notify.reloaded(f"reload failed, running configuration kept: {error}")
            return
        plan = reload.plan(self.cfg, new)
        self.reloads["ok"] += 1
        log.info("reloading %s: %s", self.config_path, plan.describe())
        if plan.ignored:
            log.warning("reload: changes to %s need a restart of alprd; not applied", ", ".join(plan.ignored))
        self.cfg = reload.apply_cameras(self.cfg, new)
        running = {c.id for c in self.cameras}
        for cid in plan.remove + [c.id for c in plan.restart]:
            self._adding = [c for c in self._adding if c.id != cid]  # added by a reload just before
            if cid in running and cid not in self.retiring:
                self._retire_camera(cid)
        self._adding += [preflight.resolved_camera(c) for c in plan.add + plan.restart]
        self._progress_reload()
        self.notify.reloaded(self._status_line())

    def _retire_camera(self, cid: str) -> None:
        """Stop the camera's decoder; _progress_reload finishes once its frames are through."""
        self.sup.request_stop(self.sup.child(f"decoder:{cid}"))
        self.retiring.add(cid)

    def _progress_reload(self) -> None:
        if self._stop_reason is not None:
            return  # stop_all stops every decoder; the final flush closes every track
        for cid in sorted(self.retiring):
            child = self.sup.child(f"decoder:{cid}")
            if child.state in (RUNNING, STOPPING) or self.frames.busy(cid):
                continue  # still stopping, or its frames are still being processed
            events = self.router.remove_camera(cid)
            log.info("camera %s removed%s", cid, f"; closing {len(events)} open track(s)" if events else "")
            self._publish(events)
            self.sup.discard(child.name)
            self.retiring.discard(cid)
            self.frames.remove_camera(cid)
            for d in (self._last_frame, self.decoder_stats,
                      self.counters.cameras, self.recent_fps):
                d.pop(cid, None)
            self.cameras = [c for c in self.cameras if c.id != cid]
        ready = [c for c in self._adding if c.id not in self.retiring]
        if not ready:
            return
        self._adding = [c for c in self._adding if c.id in self.retiring]
        for cam in ready:
            self.cameras.append(cam)
            self.frames.add_camera(cam.id)
            self.router.add_camera(cam.id)
        # the worker learns ROIs and polygons before the first frame of a new camera reaches it
        self.sup.send(self.sup.child(WORKER), "cameras", list(self.cameras))
        for cam in ready:
            self.sup.add(self._decoder_spec(cam))
            log.info("camera %s added", cam.id)

    # -- stopping ------------------------------------------------------------------------------
    def _request_stop(self, reason: str, code: int = 0) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            self.exit_code = code

    def _on_signal(self) -> None:
        signals, self._signals = self._signals, []
        for signum in signals:
            name = signal.Signals(signum).name
            if signum == signal.SIGHUP:
                if self._stop_reason is None and self.state != "running":
                    self._reload_pending = True  # start_all is walking the children: after it
                elif self._stop_reason is None:
                    self._reload()
                continue
            if self._stop_reason is None:
                self._request_stop(f"{name} received")
            elif not self._force:
                self._force = True
                log.warning("%s received again: not waiting for children or in-flight frames", name)
                self.sup.kill_all()
                self._abandon_frames()

    def _finish(self) -> None:
        """Close every open track as a final event, then flush and close the sinks."""
        try:
            self._abandon_frames()  # those the stop could not wait for: accounted, not forgotten
            events = self.router.flush()
            if events:
                log.info("closing %d open track(s)", len(events))
            self._publish(events)
        finally:
            self._remove_ended_rings(every=True)
            ok = self.fanout.close(timeout=30.0)
            if not ok:
                self.exit_code = self.exit_code or 1
            self.parking.stop()
            self.state = "stopped"
            self._write_stats(final=True)
            self._log_summary()
            if self.metrics is not None:
                self.metrics.stop()
            self.notify.close()

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return None  # embedded in a test thread: the owner stops us with request_stop()

        def handler(signum, _frame):
            self._signals.append(signum)  # the loop acts; nothing else happens here

        return {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}

    @staticmethod
    def _restore_signal_handlers(previous) -> None:
        for s, h in (previous or {}).items():
            signal.signal(s, h)

    def request_stop(self) -> None:
        """Thread-safe orderly stop (what a signal does)."""
        self._signals.append(signal.SIGTERM)

    # -- reporting -----------------------------------------------------------------------------
    def _start_metrics(self) -> None:
        m = self.cfg.metrics
        if not m.enabled:
            return
        from alprd.service.metrics import MetricsServer

        self.metrics = MetricsServer(self.stats, m.bind, m.port)
        if not self.metrics.start():
            self.metrics = None

    def stats(self) -> dict:
        """The snapshot behind stats.json, the metrics endpoint and `alprd status` (report.py).
        Safe to call from another thread (the metrics server's): it only reads."""
        return report.snapshot(self)

    def _update_rates(self) -> None:
        self.recent_fps = self._rates.update({cid: c.processed for cid, c in list(self.counters.cameras.items())},
                                             time.monotonic())

    def _status_line(self) -> str:
        return report.status_line(self)

    def _write_stats(self, final: bool = False) -> None:
        if not final:
            self._update_rates()
        data = self.stats()
        data["final"] = final
        if self.running_since is not None and not final:
            self.notify.status(self._status_line())
        runstats.write_atomic(self.stats_path, data)

    def _log_summary(self) -> None:
        log.info("%s", runstats.summary(self.stats()))

