"""The daemon behind `alprd run`: the process specs, the main loop, the orderly stop.

    decoder (one per camera) ──FrameRef──► main ──FrameRefs──► inference worker
                                             ◄──FrameResults──┘
    main: one tracker per camera (TrackRouter) → crops → FanoutSink → stdout / JSONL / SQL / bus

The main process relays frame descriptors to the worker with a credit (at most 2×max_batch in
flight), so it always knows which frames are in flight; per camera it keeps at most ring_slots
descriptors waiting (older ones point at ring slots already overwritten: dropped and counted).

Signals only set a flag; the loop acts. Orderly stop (SIGTERM, SIGINT, or every file source at
its end): the supervisor stops the children in reverse start order — the decoders first, then
the worker once every waiting frame has been processed — then every open track is closed as a
final event, the sinks are flushed and closed, and run() returns 0. A second signal skips the
drain (children are killed) but tracks and sinks are still flushed.
"""
from __future__ import annotations

import logging
import multiprocessing.connection
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path

from alprd.config import AppConfig, camera_fps
from alprd.events import PlateEvent
from alprd.service import preflight, runstats
from alprd.service.crops import CropStore
from alprd.service.supervisor import FATAL, FINISHED, ProcessSpec, RestartPolicy, Supervisor
from alprd.sinks.fanout import FanoutSink
from alprd.track.router import TrackRouter

log = logging.getLogger(__name__)

WORKER = "worker"
STATS_INTERVAL_S = 5.0
PRUNE_INTERVAL_S = 3600.0


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

    run_decoder(camera, defaults, fps, _ChannelQueue(channel), channel.stop_event, stats, realtime=realtime)
    return 0


def worker_main(channel, **kwargs) -> int:
    from alprd.infer.worker import run_worker

    return run_worker(channel, **kwargs)


def _systemd_notifier():
    """(Notifier, watchdog interval) under systemd (Type=notify), else (None, None)."""
    try:
        from alprd.service.sdnotify import Notifier, watchdog_interval_s
    except ImportError:  # pragma: no cover - the service module is optional
        return None, None
    notifier = Notifier()
    if not notifier.enabled:
        return None, None
    return notifier, watchdog_interval_s()


# ---------------------------------------------------------------------------------------------


class Daemon:
    def __init__(self, cfg: AppConfig, *, sinks: list | None = None, pace_files: bool | None = None,
                 exit_when_sources_end: bool = True, stats_path: str | os.PathLike | None = None) -> None:
        self.cfg = cfg
        self.cameras = [preflight.resolved_camera(c) for c in cfg.cameras if c.enabled]
        self.pace_files = pace_files
        self.exit_when_sources_end = exit_when_sources_end
        self.stats_path = Path(stats_path) if stats_path else cfg.state_path("stats.json")
        self.counters = runstats.Counters()
        self._sinks = sinks
        self._signals: list[int] = []
        self._stop_reason: str | None = None
        self._force = False
        self._pending: dict[str, deque] = {c.id: deque() for c in self.cameras}
        self._slots = cfg.defaults.ring_slots
        self._inflight = 0
        self._inflight_by_cam: dict[str, int] = {c.id: 0 for c in self.cameras}
        # camera -> (stream timestamp of the latest frame its decoder sent, monotonic arrival)
        self._last_frame: dict[str, tuple[float, float]] = {}
        self._credit = 2 * cfg.inference.max_batch
        self._worker_ready = False
        self._fatal: str | None = None
        self._decoder_stats: dict[str, object] = {}
        self._t0 = time.monotonic()
        self._t_running: float | None = None  # when every child was started (model loaded)
        self._next_tick = self._next_stats = self._next_prune = self._next_watchdog = 0.0
        self.exit_code = 0
        self.notifier, self._watchdog_s = _systemd_notifier()

    # -- assembly ------------------------------------------------------------------------------
    def specs(self) -> list[ProcessSpec]:
        from alprd.stream.decoder import DecoderStats

        cfg = self.cfg
        specs = [ProcessSpec(
            WORKER, worker_main,
            kwargs=dict(inference=cfg.inference, cameras=self.cameras, crops=cfg.storage.crops),
            restart=RestartPolicy("always", 1.0, 30.0), stop_timeout_s=30.0,
            torch_threads=cfg.inference.threads, ready_to_stop=self._drained, wait_ready=True)]
        d = cfg.defaults
        for cam in self.cameras:
            stats = DecoderStats()
            self._decoder_stats[cam.id] = stats
            specs.append(ProcessSpec(
                f"decoder:{cam.id}", decoder_main,
                kwargs=dict(camera=cam, defaults=d, fps=camera_fps(cfg, cam), stats=stats,
                            realtime=self.pace_files),
                restart=RestartPolicy("on-failure", d.reconnect_min_s, d.reconnect_max_s),
                stop_timeout_s=max(d.open_timeout_s, d.read_timeout_s) + 5.0))
        return specs

    # -- running -------------------------------------------------------------------------------
    def run(self) -> int:
        from alprd.sinks.factory import build_sinks
        from alprd.stream.ring import remove_orphans

        remove_orphans()
        self.crops = CropStore(self.cfg.state_path("crops"), enabled=self.cfg.storage.crops,
                               retention_days=self.cfg.storage.crop_retention_days,
                               max_mb=self.cfg.storage.crop_max_mb)
        self.router = TrackRouter([c.id for c in self.cameras], self.cfg.tracking, self.crops)
        self.fanout = FanoutSink(self._sinks if self._sinks is not None else build_sinks(self.cfg))
        self.sup = Supervisor(self.specs())
        previous = self._install_signal_handlers()
        log.info("alprd starting: %d camera(s), sinks: %s", len(self.cameras),
                 ", ".join(getattr(s, "name", "?") for s in self.fanout.sinks) or "none")
        try:
            if self.sup.start_all(pump=self._step, abort=lambda: self._stop_reason is not None):
                self._t_running = time.monotonic()
                log.info("running")
                if self.notifier is not None:
                    self.notifier.ready(f"{len(self.cameras)} camera(s)")
                while self._stop_reason is None:
                    self._step(0.2)
            elif self._stop_reason is None:
                self._request_stop(self._fatal or "the inference worker did not start", code=1)
            log.info("stopping (%s)", self._stop_reason)
            if self.notifier is not None:
                self.notifier.stopping()
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
            self._check_sources()
        if now >= self._next_stats:
            self._next_stats = now + STATS_INTERVAL_S
            self._write_stats()
        if self._watchdog_s and now >= self._next_watchdog:
            self._next_watchdog = now + self._watchdog_s
            self.notifier.watchdog()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_INTERVAL_S
            self.crops.prune()

    def _on_message(self, child, msg: tuple) -> None:
        kind = msg[0]
        if kind == "frame":
            ref = msg[1]
            self.counters.frames_in += 1
            self._last_frame[ref.camera_id] = (ref.timestamp, time.monotonic())
            q = self._pending.get(ref.camera_id)
            if q is None:
                return
            q.append(ref)
            if len(q) > self._slots:  # its ring slot is being overwritten anyway
                q.popleft()
                self.counters.frames_dropped += 1
        elif kind == "results":
            _, results, n_refs, stats = msg
            self._inflight = max(0, self._inflight - n_refs)
            for cid, n in stats.get("refs_by_camera", {}).items():
                if cid in self._inflight_by_cam:
                    self._inflight_by_cam[cid] = max(0, self._inflight_by_cam[cid] - n)
            c = self.counters
            c.frames_processed += len(results)
            c.frames_stale += stats.get("stale", 0)
            if results:
                c.batches += 1
            c.infer_s += stats.get("infer_s", 0.0)
            for result in results:
                c.reads += len(result.reads)
                self._publish(self.router.update(result))
        elif kind == "ready" and child.name == WORKER:
            self._worker_ready = True
            if not msg[1].get("trained", True):
                log.warning("the model weights are untrained: frames are processed but no plate is read")
        else:
            log.debug("%s: unexpected message %r", child.name, kind)

    def _on_change(self, change) -> None:
        child = change.child
        if child.name == WORKER:
            if change.kind == "exited":
                self._worker_ready = False
                if self._inflight:
                    log.warning("%d frame(s) in flight were lost with the worker", self._inflight)
                    self.counters.frames_lost += self._inflight
                self._inflight = 0
                self._inflight_by_cam = dict.fromkeys(self._inflight_by_cam, 0)
                if child.state == FATAL:
                    self._fatal = f"the inference worker failed: {child.fatal_message}"
                    self._request_stop(self._fatal, code=1)
        elif change.kind == "exited":
            from alprd.stream.ring import remove_orphans

            if change.exitcode != 0:
                remove_orphans()  # a killed decoder could not unlink its ring

    def _check_sources(self) -> None:
        if not self.exit_when_sources_end or self._stop_reason is not None:
            return
        decoders = [c for c in self.sup.children if c.name != WORKER]
        if decoders and all(c.state in (FINISHED, FATAL) for c in decoders):
            self._request_stop("every source has ended")

    def _dispatch(self) -> None:
        if not self._worker_ready:
            return
        room = self._credit - self._inflight
        batch = []
        while room > 0:
            heads = [(q[0].timestamp, cid) for cid, q in self._pending.items() if q]
            if not heads:
                break
            _, cid = min(heads)
            batch.append(self._pending[cid].popleft())
            room -= 1
        if batch and self.sup.send(self.sup.child(WORKER), "frames", batch):
            self._inflight += len(batch)
            for ref in batch:
                self._inflight_by_cam[ref.camera_id] += 1
        elif batch:  # worker going away: put them back, oldest first
            for ref in reversed(batch):
                self._pending[ref.camera_id].appendleft(ref)

    def _expire_silent_cameras(self, now: float) -> None:
        """A camera whose decoder has sent nothing for max_unseen_s (a dead stream, a file at
        its end) ends its tracks on its own clock: the timestamp of its latest frame advanced by
        the time since. A camera whose frames are merely still being inferred is not silent."""
        quiet = self.cfg.tracking.max_unseen_s
        for cid, (ts, arrived) in self._last_frame.items():
            if (now - arrived > quiet and not self._pending[cid] and not self._inflight_by_cam[cid]
                    and self.router.open_tracks_of(cid)):
                self._publish(self.router.expire(cid, ts + (now - arrived)))

    def _drained(self) -> bool:
        return self._inflight == 0 and not any(self._pending.values())

    def _publish(self, events: list[PlateEvent]) -> None:
        for e in events:
            self.counters.events[e.kind] = self.counters.events.get(e.kind, 0) + 1
            self.fanout.publish(e)

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
                log.warning("SIGHUP: reloading the configuration is not supported; restart alprd to apply changes")
                continue
            if self._stop_reason is None:
                self._request_stop(f"{name} received")
            elif not self._force:
                self._force = True
                log.warning("%s received again: not waiting for children or in-flight frames", name)
                self.sup.kill_all()
                for q in self._pending.values():
                    self.counters.frames_dropped += len(q)
                    q.clear()
                self._inflight = 0
                self._inflight_by_cam = dict.fromkeys(self._inflight_by_cam, 0)

    def _finish(self) -> None:
        """Close every open track as a final event, then flush and close the sinks."""
        try:
            events = self.router.flush()
            if events:
                log.info("closing %d open track(s)", len(events))
            self._publish(events)
        finally:
            ok = self.fanout.close(timeout=30.0)
            if not ok:
                self.exit_code = self.exit_code or 1
            self._write_stats(final=True)
            self._log_summary()
            if self.notifier is not None:
                self.notifier.close()

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
    def stats(self) -> dict:
        now = time.monotonic()
        return runstats.snapshot(
            self.counters, uptime_s=now - self._t0,
            running_s=now - self._t_running if self._t_running is not None else 0.0,
            open_tracks=self.router.open_tracks, restarts=self.sup.restarts,
            decoders={cid: s.snapshot() for cid, s in self._decoder_stats.items()},
            sinks={name: vars(s) for name, s in self.fanout.stats.items()},
            crops={"saved": self.crops.saved, "failed": self.crops.failed})

    def _write_stats(self, final: bool = False) -> None:
        data = self.stats()
        data["final"] = final
        if self.notifier is not None and self._t_running is not None and not final:
            self.notifier.status(f"{data['processed_fps']:.1f} fps, {data['open_tracks']} open tracks, "
                                 f"{data['events'].get('plate.final', 0)} plates")
        runstats.write_atomic(self.stats_path, data)

    def _log_summary(self) -> None:
        log.info("%s", runstats.summary(self.stats()))
