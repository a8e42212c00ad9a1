"""SQL schema of plate events, and the Alembic glue that keeps databases at its head revision.

The tables here are what the code reads and writes; the migration scripts in
``alprd/migrations/versions`` are frozen copies that create them. The scripts ship inside the
package so `alprd db upgrade` works from an installed wheel, with no alembic.ini to find.

Times are stored as UTC (timestamptz on PostgreSQL; ISO text on SQLite, always UTC, so text order is
time order). `plate` uses the "C" collation on PostgreSQL so a plain b-tree index serves both
equality and prefix LIKE ('ABC%'); on SQLite the query uses GLOB, which the default BINARY index
serves likewise.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alprd.sinks.db_url import mask_url, redact

VERSION_TABLE = "alprd_alembic_version"  # not "alembic_version": the DB may be shared with other apps
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # import-time chatter


class UtcDateTime(sa.TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on every dialect."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def plate_type() -> sa.types.TypeEngine:
    return sa.String(32).with_variant(sa.String(32, collation="C"), "postgresql")


BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER only
EventId = sa.Uuid(as_uuid=False)  # native uuid on PostgreSQL, CHAR(32) on SQLite

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

cameras = sa.Table(
    "cameras", metadata,
    sa.Column("camera_id", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=True),  # the host that first reported it (fleet check)
    sa.Column("created_at", UtcDateTime(), nullable=False),
)

plate_events = sa.Table(
    "plate_events", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", EventId, nullable=False, unique=True),
    sa.Column("camera_id", sa.String(64), sa.ForeignKey("cameras.camera_id"), nullable=False),
    sa.Column("track_id", sa.Integer, nullable=False),
    sa.Column("plate", plate_type(), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("alternatives", sa.JSON, nullable=False),
    sa.Column("reads", sa.Integer, nullable=False),
    sa.Column("first_seen", UtcDateTime(), nullable=False),
    sa.Column("last_seen", UtcDateTime(), nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("parked", sa.Boolean, nullable=False),
    sa.Column("crop_path", sa.Text, nullable=True),
    sa.Column("corners", sa.JSON, nullable=True),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("travel", sa.String(8), nullable=False, server_default="unknown"),  # 0002
    sa.Index("ix_plate_events_plate", "plate"),
    sa.Index("ix_plate_events_camera_id_last_seen", "camera_id", "last_seen"),
    sa.Index("ix_plate_events_last_seen", "last_seen"),
)

# Written only when sinks.sql.store_reads is on: every event of a track (previews included), i.e.
# how its reading evolved. Per-frame reads never reach the sinks, so they are not stored.
plate_reads = sa.Table(
    "plate_reads", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", EventId, nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("camera_id", sa.String(64), sa.ForeignKey("cameras.camera_id"), nullable=False),
    sa.Column("track_id", sa.Integer, nullable=False),
    sa.Column("plate", plate_type(), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("reads", sa.Integer, nullable=False),
    sa.Column("seen_at", UtcDateTime(), nullable=False),
    sa.Column("corners", sa.JSON, nullable=True),
    sa.Index("ix_plate_reads_camera_id_track_id", "camera_id", "track_id"),
    sa.Index("ix_plate_reads_seen_at", "seen_at"),
)


# --- parking (revision 0002; docs/parking.md) ------------------------------------------------------
# Plate lists are edited by `alprd plates` and read by the daemon (alprd.parking.lists); every
# change bumps its list's updated_at, which is what the daemon's cheap refresh check compares.
plate_lists = sa.Table(
    "plate_lists", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("max_distance", sa.Float, nullable=False),
    sa.Column("cameras", sa.JSON, nullable=True),  # list of camera ids; null = every camera
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('allow', 'deny', 'watch')", name="ck_plate_lists_kind"),
)

plate_list_entries = sa.Table(
    "plate_list_entries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("list_id", sa.Integer, sa.ForeignKey("plate_lists.id", ondelete="CASCADE"), nullable=False),
    sa.Column("plate", plate_type(), nullable=False),
    sa.Column("label", sa.String(255), nullable=True),
    sa.Column("valid_from", UtcDateTime(), nullable=True),
    sa.Column("valid_until", UtcDateTime(), nullable=True),
    sa.Column("note", sa.Text, nullable=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.UniqueConstraint("list_id", "plate"),
)

# One row per plate.match event (PlateMatch.to_dict minus kind/schema_version).
plate_matches = sa.Table(
    "plate_matches", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", EventId, nullable=False, unique=True),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("track_id", sa.Integer, nullable=False),
    sa.Column("read", plate_type(), nullable=False),
    sa.Column("list_name", sa.String(64), nullable=False),
    sa.Column("list_kind", sa.String(8), nullable=False),
    sa.Column("entry_plate", plate_type(), nullable=False),
    sa.Column("entry_label", sa.String(255), nullable=True),
    sa.Column("distance", sa.Float, nullable=False),
    sa.Column("source_kind", sa.String(16), nullable=False),
    sa.Column("source_event_id", sa.String(36), nullable=False),
    sa.Column("seen_at", UtcDateTime(), nullable=False),
    sa.Column("travel", sa.String(8), nullable=False),
    sa.Index("ix_plate_matches_seen_at", "seen_at"),
    sa.Index("ix_plate_matches_list_name_seen_at", "list_name", "seen_at"),
)

# One row per visit: visit.open inserts it (status open), visit.closed fills the exit and closes it.
visits = sa.Table(
    "visits", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("visit_id", EventId, nullable=False, unique=True),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("plate", plate_type(), nullable=False),
    sa.Column("status", sa.String(8), nullable=False),  # open | closed
    sa.Column("entered_at", UtcDateTime(), nullable=True),
    sa.Column("entry_camera", sa.String(64), nullable=True),
    sa.Column("entry_event_id", sa.String(36), nullable=True),
    sa.Column("exit_plate", plate_type(), nullable=True),
    sa.Column("exited_at", UtcDateTime(), nullable=True),
    sa.Column("exit_camera", sa.String(64), nullable=True),
    sa.Column("exit_event_id", sa.String(36), nullable=True),
    sa.Column("dwell_s", sa.Float, nullable=True),
    sa.Column("distance", sa.Float, nullable=True),
    sa.Column("outcome", sa.String(24), nullable=True),
    sa.Index("ix_visits_site_status", "site", "status"),
    sa.Index("ix_visits_plate", "plate"),
    sa.Index("ix_visits_entered_at", "entered_at"),
)


class SchemaError(RuntimeError):
    """The database schema is not the one this version of alprd writes."""


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached (message has the password masked)."""


# --- Alembic -------------------------------------------------------------------------------------

def alembic_config(connection: Connection | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # "Context impl ..." on every read is noise
    try:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()
    finally:
        quiet.setLevel(level)


def _run(engine: Engine, fn, *args) -> None:
    # Alembic logs "Context impl SQLiteImpl", "Will assume non-transactional DDL" and one
    # "Running upgrade a -> b" per step at INFO: meaningless to an operator, and `alprd db` and
    # the daemon already say where the schema ends up. Kept at DEBUG (--log-level DEBUG).
    quiet = logging.getLogger("alembic")
    level = quiet.level
    if not quiet.isEnabledFor(logging.DEBUG):
        quiet.setLevel(logging.WARNING)
    try:
        with engine.begin() as conn:
            fn(alembic_config(conn), *args)
    finally:
        quiet.setLevel(level)


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    _run(engine, command.upgrade, revision)


def downgrade(engine: Engine, revision: str = "-1") -> None:
    from alembic import command

    _run(engine, command.downgrade, revision)


def _connect_error(engine: Engine, exc: Exception) -> DatabaseUnavailable:
    msg = redact(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], engine.url)
    return DatabaseUnavailable(f"cannot reach database {mask_url(engine.url)}: {msg}")


def schema_state(engine: Engine) -> tuple[str | None, str, bool]:
    """(current revision, head revision, database empty of any table)."""
    try:
        with engine.connect() as conn:
            rev = current_revision(conn)
            empty = not sa.inspect(conn).get_table_names()
    except sa.exc.OperationalError as exc:
        raise _connect_error(engine, exc) from None
    return rev, head_revision(), empty


def check_schema_current(engine: Engine) -> None:
    """Raise SchemaError unless the database is at this version's head revision.

    The daemon calls this at start and refuses to run on an old (or newer) schema: writing events
    into the wrong shape would fail row by row much later, far from the cause.
    """
    rev, head, _ = schema_state(engine)
    if rev != head:
        where = mask_url(engine.url)
        have = rev or "no alprd schema"
        raise SchemaError(f"database {where} is at {have}, this alprd needs {head}: "
                          f"run `alprd db upgrade` (with the same -c CONFIG or --url)")


def prepare_database(engine: Engine, *, auto_upgrade_empty_sqlite: bool = True) -> str:
    """The daemon's start-up policy; returns "current", "created" or "unavailable".

    An EMPTY SQLite database (the embedded default, a file just created) is upgraded to head so the
    one-command demo works; any other database must be at head already (SchemaError naming
    `alprd db upgrade`): migrating shared or existing data is an operator's decision. An unreachable
    server returns "unavailable": the daemon starts anyway and the SQL sink spools until it is back.
    """
    try:
        rev, head, empty = schema_state(engine)
    except DatabaseUnavailable:
        return "unavailable"
    if rev is None and empty and auto_upgrade_empty_sqlite and engine.dialect.name == "sqlite":
        upgrade(engine)
        return "created"
    check_schema_current(engine)
    return "current"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
