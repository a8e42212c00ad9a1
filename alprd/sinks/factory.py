"""build_sinks(cfg): the enabled sinks of a configuration, constructed (and so validated).

The SQL and ZeroMQ sinks are imported only when enabled, so a daemon without them configured
never imports SQLAlchemy or pyzmq, and this module works before and after those sinks exist.
A sink that cannot start (bad URL, port taken, out-of-date schema) raises SinkStartError with a
one-line message; the sinks built before it are closed again.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

from alprd.config import AppConfig
from alprd.sinks.base import Sink

log = logging.getLogger(__name__)


class SinkStartError(RuntimeError):
    """A sink could not be started; the message says which and why (user-fixable)."""


def jsonl_path(cfg: AppConfig) -> Path:
    """A relative `sinks.jsonl.path` lives under storage.state_dir."""
    p = Path(cfg.sinks.jsonl.path).expanduser()
    return p if p.is_absolute() else cfg.state_path(str(p))


def build_sinks(cfg: AppConfig, *, stdout_file=None) -> list[Sink]:
    sinks: list[Sink] = []
    try:
        s = cfg.sinks
        if s.stdout.enabled:
            from alprd.sinks.stdout import StdoutSink

            sinks.append(StdoutSink(as_json=s.stdout.as_json, file=stdout_file))
        if s.jsonl.enabled:
            from alprd.sinks.jsonl import JsonlSink

            path = jsonl_path(cfg)
            try:
                sinks.append(JsonlSink(path))
            except OSError as exc:
                raise SinkStartError(f"sinks.jsonl.path: cannot open {path} ({exc.strerror})") from None
        if s.sql.enabled:
            sinks.append(_optional("sql", "SqlSink", lambda cls: cls.from_app_config(cfg)))
        if s.bus.enabled:
            sinks.append(_optional("bus", "BusSink", lambda cls: cls(s.bus, cameras=[c.id for c in cfg.cameras])))
        for i, target in enumerate(s.webhooks):
            sinks.append(_delivery(f"sinks.webhooks.{i} ({target.name})", "webhook", "WebhookSink",
                                   lambda cls, t=target: cls(t, delivery_spool(cfg, t, f"webhook-{t.name}"),
                                                             crop_roots=[cfg.state_path()])))
        if s.mqtt.enabled:
            cams = [c.id for c in cfg.cameras if c.enabled]
            sinks.append(_delivery("sinks.mqtt", "mqtt", "MqttSink",
                                   lambda cls: cls(s.mqtt, delivery_spool(cfg, s.mqtt, "mqtt"), cameras=cams,
                                                   lists_source=plate_lists_source(cfg))))
    except BaseException:
        for sink in sinks:
            try:
                sink.close()
            except Exception:  # noqa: BLE001
                log.debug("closing %s after a failed start", getattr(sink, "name", sink), exc_info=True)
        raise
    return [x for x in sinks if x is not None]


def delivery_spool(cfg: AppConfig, sink_cfg, default: str) -> Path:
    """A delivery sink's spool: its spool_dir, else <state_dir>/spool/<default>."""
    return Path(sink_cfg.spool_dir) if sink_cfg.spool_dir else cfg.state_path("spool", default)


def plate_lists_source(cfg: AppConfig):
    """For Home Assistant discovery: a function reading the plate lists (name, cameras) from the
    SQL database, or None without one. Its errors (no lists table yet, database away) are the
    caller's to absorb: the MQTT sink keeps the lists it had."""
    if not cfg.sinks.sql.enabled:
        return None
    from alprd.parking.lists import load_lists
    from alprd.sinks.db_url import make_engine, url_from_config

    try:
        engine = make_engine(url_from_config(cfg.sinks.sql), busy_timeout_s=cfg.sinks.sql.busy_timeout_s,
                             create_dirs=False)
    except Exception as exc:  # noqa: BLE001 - the SQL sink reports a bad URL itself
        log.debug("plate lists for MQTT discovery unavailable: %s", exc)
        return None
    return lambda: [(pl.name, pl.cameras) for pl in load_lists(engine)]


def _delivery(key: str, module: str, cls_name: str, make):
    """Webhook and MQTT sinks: a missing secret, a spool in use... is one line naming the key."""
    mod = importlib.import_module(f"alprd.sinks.{module}")
    try:
        return make(getattr(mod, cls_name))
    except Exception as exc:  # noqa: BLE001 - SecretError, SpoolError, OSError, a bad TLS file
        raise SinkStartError(f"{key}: {exc}") from exc


def _optional(module: str, cls_name: str, make):
    try:
        mod = importlib.import_module(f"alprd.sinks.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"alprd.sinks.{module}":
            log.warning("sinks.%s is enabled but this build has no %s sink; skipped", module, module)
            return None
        raise
    cls = getattr(mod, cls_name)
    try:
        return make(cls)
    except SinkStartError:
        raise
    except Exception as exc:  # bad URL, port in use, schema too old: the sink's own message
        raise SinkStartError(f"sinks.{module}: {exc}") from exc
