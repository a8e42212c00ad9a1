"""What the web process needs, resolved once from the configuration (and `alprd web`'s flags).

The credentials are read here, in the web process, from the environment or a file: they never
travel through the YAML. A bind other than loopback without a credential is refused (WebError),
so the console is never open to the network by accident (SECURITY.md, "The web console").
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from alprd.config import AppConfig, WebConfig


class WebError(ValueError):
    """A user-fixable problem with the web settings (one line; `alprd web` exits 2)."""


def is_loopback(host: str) -> bool:
    h = host.strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Credentials:
    token: str | None = None
    username: str | None = None
    password: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.token or self.password)


@dataclass(frozen=True)
class WebSettings:
    db_url: str | None            # None: no history (the SQL sink is off and no --url)
    bus_endpoint: str | None      # None: no live stream
    state_dir: Path               # stats.json (camera panel), crops/, web.json
    bind: str = "127.0.0.1"
    port: int = 8780
    credentials: Credentials = field(default_factory=Credentials)
    live_buffer: int = 200
    busy_timeout_s: float = 5.0
    cameras: tuple[str, ...] = ()  # the configured camera ids (shown down until stats.json has them)

    @property
    def stats_path(self) -> Path:
        return self.state_dir / "stats.json"

    @property
    def crops_root(self) -> Path:
        return self.state_dir / "crops"


def _secret(env: str | None, file: str | None, key: str) -> str | None:
    """From a file (first line) if given, else from an environment variable; an empty one is an error."""
    value = None
    if file:
        try:
            value = Path(file).read_text(encoding="utf-8").splitlines()[0].strip() if Path(file).stat().st_size else ""
        except OSError as exc:
            raise WebError(f"web.{key}_file: cannot read {file} ({exc.strerror})") from None
    elif env:
        value = os.environ.get(env)
        if value is None:
            raise WebError(f"web.{key}_env: environment variable {env} is not set")
    if value is not None and not value:
        raise WebError(f"web.{key}: the {key} is empty")
    return value


def credentials(web: WebConfig) -> Credentials:
    token = _secret(web.token_env, web.token_file, "token")
    password = _secret(web.password_env, web.password_file, "password")
    if password and not web.username:
        raise WebError("web.password_env/password_file: set web.username too (basic auth)")
    return Credentials(token=token, username=web.username, password=password)


def check_bind(bind: str, creds: Credentials) -> None:
    if not is_loopback(bind) and not creds.any:
        raise WebError(f"web.bind {bind} is not loopback: set web.token_env/token_file or web.username with "
                       "password_env/password_file (SECURITY.md), or bind 127.0.0.1")


def from_config(cfg: AppConfig, *, db_url: str | None = None, bus: str | None = None,
                bind: str | None = None, port: int | None = None,
                state_dir: str | None = None) -> WebSettings:
    """The settings of `alprd web` / the daemon's web child; arguments override the config."""
    from alprd.sinks.db_url import DbUrlError, url_from_config

    web = cfg.web
    try:
        url = url_from_config(cfg.sinks.sql, db_url) if (db_url or cfg.sinks.sql.enabled) else None
    except DbUrlError as exc:
        raise WebError(str(exc)) from None
    endpoint = bus or (cfg.sinks.bus.endpoint if cfg.sinks.bus.enabled else None)
    creds = credentials(web)
    s = WebSettings(
        db_url=url.render_as_string(hide_password=False) if url is not None else None,
        bus_endpoint=endpoint, state_dir=Path(state_dir or cfg.storage.state_dir),
        bind=bind or web.bind, port=web.port if port is None else port, credentials=creds,
        live_buffer=web.live_buffer, busy_timeout_s=cfg.sinks.sql.busy_timeout_s,
        cameras=tuple(c.id for c in cfg.cameras if c.enabled))
    check_bind(s.bind, creds)
    return s
