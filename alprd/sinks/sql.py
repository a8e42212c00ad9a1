"""SQL sink: plate.final events into `plate_events` (SQLite or PostgreSQL), a durable sink.

The spool, batching, back-off and poison handling are alprd.sinks.durable's; this module is the
SQL: one batch is one transaction of inserts ON CONFLICT (event_id) DO NOTHING, which makes every
replay (crash between COMMIT and ack, kill -9 mid-batch) harmless. Previews are not stored in
plate_events; with `store_reads` every event (previews too) also goes to `plate_reads`. A record
that does not parse, or that the database refuses for its content (constraint, bad value), is
poison (set aside in rejected.jsonl); any other database error means "unavailable, retry".
"""
from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from alprd.config import AppConfig, SqlSinkConfig
from alprd.derived_events import event_from_json
from alprd.events import PlateEvent
from alprd.sinks import schema, sql_parking
from alprd.sinks.db_url import make_engine, mask_url, redact, url_from_config
from alprd.sinks.durable import DurableSettings, DurableSink, RecordError, Rejected, TargetUnavailable

log = logging.getLogger(__name__)


def _is_poison(exc: Exception) -> bool:
    """Constraint/value errors, and driver-side bind errors (StatementError that is not a
    DBAPIError: e.g. a NUL in a string for PostgreSQL). Everything else is 'database unavailable'."""
    if isinstance(exc, (sa.exc.IntegrityError, sa.exc.DataError)):
        return True
    return isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DBAPIError)


_ROWS_PER_STATEMENT = 200  # 15 columns each: well under SQLite's bound-variable limit


class _BadRecord(ValueError):
    pass


def _insert(table: sa.Table, dialect: str, rows: list[dict], key: str):
    ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return ins.values(rows).on_conflict_do_nothing(index_elements=[key])


def event_rows(event: PlateEvent, store_reads: bool) -> tuple[dict | None, dict | None]:
    """(plate_events row or None, plate_reads row or None); raises _BadRecord for unstorable data."""
    try:
        uuid.UUID(event.event_id)
    except (ValueError, AttributeError, TypeError):
        raise _BadRecord(f"event_id {event.event_id!r} is not a UUID") from None
    if len(event.camera_id) > 64 or len(event.plate) > 32:
        raise _BadRecord("camera_id longer than 64 or plate longer than 32 characters")
    corners = [list(p) for p in event.corners] if event.corners else None
    final = None
    if event.kind == "plate.final":
        final = dict(
            event_id=event.event_id, camera_id=event.camera_id, track_id=event.track_id,
            plate=event.plate, confidence=event.confidence,
            alternatives=[{"plate": a.plate, "score": a.score} for a in event.alternatives],
            reads=event.reads, first_seen=event.first_seen, last_seen=event.last_seen,
            direction=event.direction, parked=event.parked, crop_path=event.crop_path,
            corners=corners, schema_version=event.schema_version, travel=event.travel)
    read = None
    if store_reads:
        read = dict(event_id=event.event_id, kind=event.kind, camera_id=event.camera_id,
                    track_id=event.track_id, plate=event.plate, confidence=event.confidence,
                    reads=event.reads, seen_at=event.last_seen, corners=corners)
    return final, read


def _remove_crop(crop_path: str, root: Path) -> None:
    """Delete a crop if it lies under root. The daemon writes <state_dir>/crops/... as given, so
    a relative path is relative to its working directory; relative to root is tried too."""
    p = Path(crop_path)
    for cand in ([p] if p.is_absolute() else [p.resolve(), root / p]):
        cand = cand.resolve()
        if cand.is_relative_to(root) and cand.is_file():
            try:
                cand.unlink()
            except OSError as exc:
                log.warning("purge: cannot delete %s (%s)", cand, exc.strerror)
            return


def purge(engine: Engine, older_than: datetime | timedelta, crop_root: str | Path | None = None,
          chunk: int = 1000) -> int:
    """Delete events last seen before the cutoff (and plate_reads alike); returns rows deleted.

    Crop files of deleted events are removed only when they lie under crop_root (the state
    directory): a fleet's shared database also names other hosts' files.
    """
    cutoff = schema.utcnow() - older_than if isinstance(older_than, timedelta) else older_than
    root = Path(crop_root).resolve() if crop_root is not None else None
    t = schema.plate_events
    total = 0
    while True:
        with engine.begin() as conn:
            found = conn.execute(sa.select(t.c.id, t.c.crop_path)
                                 .where(t.c.last_seen < cutoff).limit(chunk)).all()
            if found:
                conn.execute(sa.delete(t).where(t.c.id.in_([r.id for r in found])))
        total += len(found)
        for r in found:
            if root is not None and r.crop_path:
                _remove_crop(r.crop_path, root)
        if len(found) < chunk:
            break
    with engine.begin() as conn:
        total += conn.execute(sa.delete(schema.plate_reads)
                              .where(schema.plate_reads.c.seen_at < cutoff)).rowcount or 0
    return total


class SqlTarget:
    """The durable sink's target: one batch of spooled events is one transaction."""

    def __init__(self, engine: Engine, *, store_reads: bool = False, schema_checked: bool = False,
                 crop_root: str | Path | None = None, retention_days: float | None = None,
                 purge_every_s: float = 3600.0) -> None:
        self.engine = engine
        self.where = f"database {mask_url(engine.url)}"
        self.store_reads = store_reads
        self.crop_root = crop_root
        self.retention_days = retention_days
        self.purge_every_s = purge_every_s
        self.written = 0      # rows committed to plate_events by this process
        self._schema_ok = schema_checked  # else the first write applies prepare_database()
        self._cameras: set[str] = set()
        self._host = socket.gethostname()

    def _clean(self, exc: BaseException) -> str:
        """First line of the driver's message, the password masked."""
        text = redact(str(getattr(exc, "orig", None) or exc).strip().split("\n")[0], self.engine.url)
        return text if isinstance(exc, _BadRecord) else f"{type(exc).__name__}: {text}"

    def write(self, records: Sequence[str]) -> list[Rejected]:
        rejected: list[Rejected] = []
        items = []
        for line in records:
            try:
                ev = event_from_json(line)
                if isinstance(ev, PlateEvent):
                    items.append((ev,) + event_rows(ev, self.store_reads))
                else:  # plate.match, visit.* (alprd.parking)
                    sql_parking.check(ev)
                    items.append((ev, None, None))
            except Exception as exc:  # noqa: BLE001 - whatever this line does wrong, it is its own fault
                rejected.append(Rejected(line, self._clean(exc)))
        if items:
            try:
                self._ensure_schema()
                self._commit(items)
            except (sa.exc.SQLAlchemyError, schema.SchemaError, schema.DatabaseUnavailable, OSError) as exc:
                if _is_poison(exc):
                    raise RecordError(self._clean(exc)) from exc
                raise TargetUnavailable(self._clean(exc)) from exc
        return rejected

    def _ensure_schema(self) -> None:
        if not self._schema_ok:
            if schema.prepare_database(self.engine) == "unavailable":
                raise schema.DatabaseUnavailable("database unreachable")
            self._schema_ok = True

    def _commit(self, items) -> None:
        """One transaction; caches (known cameras, counters) change only once it committed."""
        new = sorted({ev.camera_id for ev, _, _ in items if isinstance(ev, PlateEvent)} - self._cameras)
        finals = [f for _, f, _ in items if f is not None]
        derived = [ev for ev, _, _ in items if not isinstance(ev, PlateEvent)]
        reads = [r for _, _, r in items if r is not None]
        inserted = 0
        with self.engine.begin() as conn:
            dialect = conn.dialect.name
            if new:
                self._register_cameras(conn, new)
            for i in range(0, len(finals), _ROWS_PER_STATEMENT):
                res = conn.execute(_insert(schema.plate_events, dialect,
                                           finals[i:i + _ROWS_PER_STATEMENT], "event_id"))
                inserted += max(res.rowcount or 0, 0)
            for i in range(0, len(reads), _ROWS_PER_STATEMENT):
                conn.execute(_insert(schema.plate_reads, dialect,
                                     reads[i:i + _ROWS_PER_STATEMENT], "event_id"))
            sql_parking.write(conn, derived)
        self.written += inserted
        self._cameras.update(new)

    def _register_cameras(self, conn: Connection, ids: list[str]) -> None:
        """Insert unknown cameras; warn once if another host already reported the same id."""
        c = schema.cameras
        now = schema.utcnow()
        conn.execute(_insert(c, conn.dialect.name,
                             [dict(camera_id=i, host=self._host, created_at=now) for i in ids],
                             "camera_id"))
        for row in conn.execute(sa.select(c.c.camera_id, c.c.host).where(c.c.camera_id.in_(ids))):
            if row.host and row.host != self._host:
                log.warning("SQL sink: camera id %r is also used by host %r; camera ids must be "
                            "unique across hosts sharing a database", row.camera_id, row.host)

    def idle(self) -> float:
        """With retention_days: purge old rows (best effort; the next round retries)."""
        if self.retention_days is None:
            return 60.0
        try:
            n = purge(self.engine, timedelta(days=self.retention_days), self.crop_root)
            if n:
                log.info("SQL sink: purged %d rows older than %g days", n, self.retention_days)
        except Exception as exc:  # noqa: BLE001
            log.warning("SQL sink: purge failed: %s", redact(str(exc), self.engine.url))
        return self.purge_every_s

    def metrics(self) -> dict:
        return {"written": self.written}

    def close(self) -> None:
        self.engine.dispose()


class SqlSink(DurableSink):
    """The Sink for SQL databases: construct, publish() from any thread, flush(), close()."""

    purge_every_s = 3600.0  # with retention_days: how often the writer purges when idle

    def __init__(self, cfg: SqlSinkConfig, spool_dir: str | Path, *, engine: Engine | None = None,
                 crop_root: str | Path | None = None, fsync: bool = True,
                 schema_checked: bool = False) -> None:
        self.cfg = cfg
        self.crop_root = crop_root
        target = SqlTarget(engine or make_engine(url_from_config(cfg), busy_timeout_s=cfg.busy_timeout_s),
                           store_reads=cfg.store_reads, schema_checked=schema_checked,
                           crop_root=crop_root, retention_days=cfg.retention_days,
                           purge_every_s=type(self).purge_every_s)
        super().__init__("sql", target, spool_dir,
                         DurableSettings.of(cfg, fsync=fsync, stop_grace_s=cfg.busy_timeout_s + 5),
                         label="SQL sink", log=log,
                         accepts=lambda ev: ev.kind == "plate.final" or ev.kind in sql_parking.KINDS
                         or cfg.store_reads)

    @classmethod
    def from_app_config(cls, app: AppConfig) -> "SqlSink":
        """What the daemon calls: resolve the URL, apply the start-up schema policy, start.

        Raises schema.SchemaError (message names `alprd db upgrade`) on an out-of-date schema and
        DbUrlError on a bad URL/password source; an unreachable server is not an error (spool).
        """
        cfg = app.sinks.sql
        engine = make_engine(url_from_config(cfg), busy_timeout_s=cfg.busy_timeout_s)
        state = schema.prepare_database(engine)
        if state == "unavailable":
            log.warning("SQL sink: database %s unreachable at start; events will be spooled",
                        mask_url(engine.url))
        elif state == "created":
            log.info("SQL sink: created the schema in %s", mask_url(engine.url))
        spool_dir = cfg.spool_dir or app.state_path("spool", "sql")
        return cls(cfg, spool_dir, engine=engine, crop_root=app.state_path(),
                   schema_checked=state != "unavailable")

    @property
    def engine(self) -> Engine:
        return self.target.engine

    @property
    def written(self) -> int:
        return self.target.written

    def purge(self, older_than: datetime | timedelta) -> int:
        return purge(self.engine, older_than, self.crop_root)
