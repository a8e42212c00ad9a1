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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alprd.config import AppConfig, CameraConfig, ConfigError, camera_fps, load_config
from alprd.service import preflight


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
    """(config, None), or (None, one line saying what is wrong)."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        return None, str(exc)
    found = preflight.problems(cfg)
    if found:
        return None, f"{path}: {found[0]}" + (f" (and {len(found) - 1} more)" if len(found) > 1 else "")
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
