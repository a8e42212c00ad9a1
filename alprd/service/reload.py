"""What a SIGHUP changes: the camera list, nothing else.

The daemon re-reads its configuration file, checks it as `alprd run` would (a broken file is
logged and the running configuration kept), and compares the enabled cameras by id:

- a new id starts a decoder and a tracker;
- a missing (or now disabled) id stops its decoder; once its waiting and in-flight frames are
  through, its open tracks are closed as final events;
- an id whose settings changed (url, fps, roi, polygon, loop) is stopped and started again;
- an unchanged id is not touched: its decoder, ring and open tracks carry on.

Changes to any other section (defaults, inference, tracking, sinks, storage, metrics) need a
restart; a reload names them in a warning and leaves them as they are.

``plan`` is pure; ``CameraReloader`` carries a plan out on a running daemon.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from alprd.config import AppConfig, CameraConfig, ConfigError, camera_fps, load_config
from alprd.messages import Cameras
from alprd.process.supervisor import RUNNING, STOPPING
from alprd.service import preflight
from alprd.service.specs import WORKER, decoder_name

log = logging.getLogger("alprd.service.daemon")


@dataclass
class Plan:
    add: list[CameraConfig] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    restart: list[CameraConfig] = field(default_factory=list)  # same id, new settings
    keep: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # sections that changed but need a restart

    @property
    def changes_cameras(self) -> bool:
        return bool(self.add or self.remove or self.restart)

    def describe(self) -> str:
        parts = [f"{label} {', '.join(ids)}" for label, ids in (
            ("added", [c.id for c in self.add]), ("removed", self.remove),
            ("restarted", [c.id for c in self.restart]), ("unchanged", self.keep)) if ids]
        return "; ".join(parts) or "no cameras"


def load(path: str | Path) -> tuple[AppConfig | None, str | None]:
    """(config, None), or (None, every problem on one line, joined by "; "): it goes into one log
    record and into sd_notify's STATUS=, where a newline would start another assignment."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        return None, "; ".join(exc.lines)
    found = preflight.problems(cfg)
    if found:
        return None, "; ".join(f"{path}: {p}" for p in found)
    return cfg, None


def plan(running: AppConfig, new: AppConfig) -> Plan:
    """Compare the enabled cameras of the running configuration with those of the new one."""
    old = {c.id: c for c in running.cameras if c.enabled}
    fresh = {c.id: c for c in new.cameras if c.enabled}
    p = Plan()
    for cid, cam in fresh.items():
        before = old.get(cid)
        if before is None:
            p.add.append(cam)
        elif _settings(running, before) != _settings(running, cam):  # defaults are not reloaded
            p.restart.append(cam)
        else:
            p.keep.append(cid)
    p.remove = [cid for cid in old if cid not in fresh]
    for name in type(running).model_fields:
        if name != "cameras" and getattr(running, name) != getattr(new, name):
            p.ignored.append(name)
    return p


def _settings(cfg: AppConfig, cam: CameraConfig) -> tuple:
    """What the camera's decoder and the worker see: every setting, fps as inherited."""
    return (preflight.resolved_camera(cam).model_dump(exclude={"fps"}), camera_fps(cfg, cam))


def apply_cameras(running: AppConfig, new: AppConfig) -> AppConfig:
    """The running configuration with the new camera list (every other section stays)."""
    return running.model_copy(update={"cameras": list(new.cameras)})


class CameraReloader:
    """The SIGHUP state machine of a running daemon `d` (alprd.service.daemon.Daemon).

    request() while the children are still starting only marks the reload pending (run() does
    it once they are up). reload() reads and checks the file, then: removed and changed cameras
    retire (decoder stopped; progress() removes each once its frames are through and closes its
    tracks), new and changed cameras wait in `adding` until their id is free, then get a
    tracker, the worker learns the camera list (Cameras), and their decoders start.
    """

    def __init__(self, d) -> None:
        self.d = d
        self.pending = False
        self.retiring: set[str] = set()          # cameras removed by a reload, draining
        self.adding: list[CameraConfig] = []     # cameras waiting for their id to be free
        self.counts = {"ok": 0, "failed": 0}

    def request(self) -> None:
        if self.d.state != "running":
            self.pending = True  # start_all is walking the children: after it
        else:
            self.reload()

    def reload(self) -> None:
        d = self.d
        self.pending = False
        if d.config_path is None:
            log.warning("SIGHUP: no configuration file to reload (the daemon was started without one)")
            return
        d.notify.reloading()
        new, error = load(d.config_path)
        if new is None:
            self.counts["failed"] += 1
            log.error("reload failed, keeping the running configuration: %s", error)
            d.notify.reloaded(f"reload failed, running configuration kept: {error}")
            return
        p = plan(d.cfg, new)
        self.counts["ok"] += 1
        log.info("reloading %s: %s", d.config_path, p.describe())
        if p.ignored:
            log.warning("reload: changes to %s need a restart of alprd; not applied", ", ".join(p.ignored))
        d.cfg = apply_cameras(d.cfg, new)
        published = [c.id for c in d.cfg.cameras] + [c.id for c in d.cameras]  # removed ones still close tracks
        for sink in d.events.fanout.sinks:  # the bus applies subscriptions to the new cameras' topics
            if callable(getattr(sink, "set_cameras", None)):
                sink.set_cameras(published)
        running = {c.id for c in d.cameras}
        for cid in p.remove + [c.id for c in p.restart]:
            self.adding = [c for c in self.adding if c.id != cid]  # added by a reload just before
            if cid in running and cid not in self.retiring:
                d.sup.request_stop(d.sup.child(decoder_name(cid)))  # progress() finishes it
                self.retiring.add(cid)
        self.adding += [preflight.resolved_camera(c) for c in p.add + p.restart]
        self.progress()
        d.notify.reloaded(d.status_line())

    def progress(self) -> None:
        d = self.d
        if d.stop_reason is not None:
            return  # stop_all stops every decoder; the final flush closes every track
        for cid in sorted(self.retiring):
            child = d.sup.child(decoder_name(cid))
            if child.state in (RUNNING, STOPPING) or d.relay.frames.busy(cid):
                continue  # still stopping, or its frames are still being processed
            events = d.router.remove_camera(cid)
            log.info("camera %s removed%s", cid, f"; closing {len(events)} open track(s)" if events else "")
            d.events.publish(events)
            d.sup.discard(child.name)
            self.retiring.discard(cid)
            d.relay.remove_camera(cid)
            for table in (d.decoder_stats, d.counters.cameras, d.recent_fps):
                table.pop(cid, None)
            d.cameras = [c for c in d.cameras if c.id != cid]
        ready = [c for c in self.adding if c.id not in self.retiring]
        if not ready:
            return
        self.adding = [c for c in self.adding if c.id in self.retiring]
        for cam in ready:
            d.cameras.append(cam)
            d.relay.add_camera(cam.id)
            d.parking.camera_changed(cam, d.router)  # its in direction and parking role
            d.router.add_camera(cam.id)
        # the worker learns ROIs and polygons before the first frame of a new camera reaches it
        d.sup.send(d.sup.child(WORKER), Cameras(tuple(d.cameras)))
        for cam in ready:
            d.sup.add(d.decoder_spec(cam))
            log.info("camera %s added", cam.id)
