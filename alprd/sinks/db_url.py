"""Database URLs: resolve the password from env/file, mask it everywhere, build tuned engines.

The password never lives in the YAML: `password_env` / `password_file` supply it at run time (or
libpq's own PGPASSWORD / ~/.pgpass). Anything that may reach a log or a terminal goes through
`mask_url` / `redact` first, so a URL typed with an inline password is not echoed either.
"""
from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from alprd.config import SqlSinkConfig


class DbUrlError(ValueError):
    """A user-fixable problem with the database URL or its password source."""


_INLINE_PW = re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)")


def parse_url(url: str | URL) -> URL:
    """Parse, and give a bare postgresql:// the driver that is installed (psycopg 3, else psycopg2:
    SQLAlchemy's default changed between versions)."""
    if not isinstance(url, URL):
        try:
            url = make_url(url)
        except Exception:  # sqlalchemy.exc.ArgumentError and friends
            raise DbUrlError(f"not a database URL: {mask_url(url)!r} (expected e.g. "
                             "sqlite:///alprd.db or postgresql://user@host/db)") from None
    if url.drivername == "postgresql":
        for module, driver in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
            if importlib.util.find_spec(module) is not None:
                return url.set(drivername=driver)
        raise DbUrlError("PostgreSQL needs a driver: pip install 'alprd[postgres]' (psycopg2-binary)")
    return url


def resolve_url(url: str | URL, *, password_env: str | None = None,
                password_file: str | None = None) -> URL:
    """The URL with its password filled in from the environment or a file (file wins if both)."""
    u = parse_url(url)
    password = None
    if password_env:
        password = os.environ.get(password_env)
        if password is None and not password_file:
            raise DbUrlError(f"sinks.sql.password_env: environment variable {password_env} is not set")
    if password_file:
        try:
            password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise DbUrlError(f"sinks.sql.password_file: cannot read {password_file} ({exc.strerror})") from None
    if password is not None:
        u = u.set(password=password)
    return u


def url_from_config(cfg: SqlSinkConfig, override: str | None = None) -> URL:
    """The URL a command should use: `--url` if given (still honouring the config's password
    source when the override has no inline password), else the config's."""
    if override:
        u = parse_url(override)
        if u.password is not None:
            return u
        return resolve_url(u, password_env=cfg.password_env, password_file=cfg.password_file)
    return resolve_url(cfg.url, password_env=cfg.password_env, password_file=cfg.password_file)


def mask_url(url: str | URL) -> str:
    """A printable form of the URL with any password replaced by ***.

    A typed URL string is masked as text, not parsed: a password holding `/`, `?`, `#` or `@`
    defeats URL parsing (the part after it would be shown as host or path), so the user-info
    runs to the last `@` and everything after its first `:` is hidden."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep or "@" not in rest:
        return text
    userinfo, _, host = rest.rpartition("@")
    if ":" not in userinfo:
        return text
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"


def display_url(url: str) -> str:
    """How `check-config` shows sinks.sql.url: masked, and a SQLite file with the absolute path
    it resolves to from here (sqlite:///var/alprd.db is relative to the working directory,
    sqlite:////var/lib/alprd/alprd.db absolute)."""
    shown = mask_url(url)
    try:
        u = make_url(url)
    except Exception:  # shown as typed, masked; the daemon reports the parse error itself
        return shown
    path = sqlite_path(u) if u.get_backend_name() == "sqlite" else None
    if path is not None:
        return f"{shown} (file {path.expanduser().absolute()})"
    return shown


def redact(text: str, url: URL | None) -> str:
    """Remove the URL's password from an arbitrary message (driver errors may quote the DSN)."""
    text = _INLINE_PW.sub(r"\1***\3", text)
    if url is not None and url.password:
        text = text.replace(str(url.password), "***")
    return text


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory database."""
    if not is_sqlite(url) or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def make_engine(url: str | URL, *, busy_timeout_s: float = 5.0, connect_timeout_s: float = 5.0,
                create_dirs: bool = True) -> Engine:
    """An engine tuned per dialect.

    SQLite: WAL (readers such as `alprd query` never block the writer), a busy timeout instead of
    instant "database is locked", synchronous=NORMAL (durable enough in WAL; the spool covers the
    rest) and foreign keys on. PostgreSQL: pre-ping so a restarted server is noticed at checkout,
    and a connect timeout so a dead host fails fast into the spool.
    """
    u = parse_url(url)
    if is_sqlite(u):
        path = sqlite_path(u)
        if path is not None and create_dirs and path.parent != Path(""):
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(u, connect_args={"timeout": busy_timeout_s})
        busy_ms = int(busy_timeout_s * 1000)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - SQLAlchemy hook
            cur = dbapi_conn.cursor()
            if path is not None:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    connect_args = {}
    if u.get_backend_name() == "postgresql":
        # libpq options (psycopg and psycopg2 alike): fail fast, and notice a dead peer mid-query
        connect_args = dict(connect_timeout=max(1, int(connect_timeout_s)), keepalives=1,
                            keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
    return sa.create_engine(u, pool_pre_ping=True, connect_args=connect_args)


def cli_url(config_path: str | None, url: str | None) -> URL:
    """The URL for a command given `-c CONFIG` and/or `--url`. Without -c: the config every
    command defaults to (config.default_config_path), so `alprd query` reads the database
    `alprd run` writes (sqlite:///var/alprd.db from the embedded default, not a second one)."""
    from alprd.config import default_config_path, load_config

    if url and not config_path:
        return url_from_config(SqlSinkConfig(), url)
    cfg = load_config(config_path or default_config_path()).sinks.sql
    return url_from_config(cfg, url)

