"""SQL sink: plate.final events into `plate_events` (SQLite or PostgreSQL), through the spool.

publish() appends the event to the on-disk spool (fsync'd) and returns; one writer thread reads the
spool in order, inserts batches in one transaction each, and acks the spool only after COMMIT.
If the database is down, locked or mid-restart, the batch stays put and is retried with backoff,
so events pile up on disk, not in memory, and are written in order when it returns. Inserts are
ON CONFLICT (event_id) DO NOTHING, which makes every replay (crash between COMMIT and ack, kill -9
mid-batch) harmless. Previews are not stored in plate_events; with `store_reads` every event
(previews too) also goes to `plate_reads`. A record the database rejects for its content
(constraint, bad value) is moved to `rejected.jsonl` in the spool directory so it cannot block
the queue; anything else is treated as "database unavailable" and retried.
"""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from alprd.config import AppConfig, SqlSinkConfig
from alprd.events import PlateEvent
from alprd.sinks import schema
from alprd.sinks.db_url import make_engine, mask_url, redact, url_from_config
from alprd.sinks.spool import Spool, SpoolError

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
            corners=corners, schema_version=event.schema_version)
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


class SqlSink:
    """The Sink for SQL databases. Construct, publish() from any thread, flush(), close()."""

    name = "sql"
    durable = True  # publish() returns once the event is in the spool: the fan-out lets it go first
    purge_every_s = 3600.0  # with retention_days: how often the writer purges when idle

    def __init__(self, cfg: SqlSinkConfig, spool_dir: str | Path, *, engine: Engine | None = None,
                 crop_root: str | Path | None = None, fsync: bool = True,
                 schema_checked: bool = False) -> None:
        self.cfg = cfg
        self.engine = engine or make_engine(url_from_config(cfg), busy_timeout_s=cfg.busy_timeout_s)
        self.crop_root = crop_root
        self.spool = Spool(spool_dir, fsync=fsync)
        self.written = 0      # rows committed to plate_events by this process
        self.rejected = 0     # records moved to rejected.jsonl
        self.dropped = 0      # events that could not even be spooled (disk full...)
        self.available = True
        self._cv = threading.Condition()
        self._stopping = False
        self._flush_wanted = False
        self._failures = 0  # failed write attempts (flush() gives up after one of its own)
        self._schema_ok = schema_checked  # else the writer applies prepare_database() first
        self._cameras: set[str] = set()
        self._host = socket.gethostname()
        self._next_purge = 0.0
        self._spool_failing = False
        # since when events wait in the spool (for the lag metric); None while caught up
        self._behind_since: float | None = None
        pending = self.spool.pending_bytes()
        if pending:
            self._behind_since = time.monotonic()
        if pending:
            log.info("SQL sink: replaying %d spooled bytes from %s", pending, self.spool.dir)
        self._thread = threading.Thread(target=self._run, name="sql-sink", daemon=True)
        self._thread.start()

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

    # --- Sink protocol -------------------------------------------------------------------------
    def publish(self, event: PlateEvent) -> None:
        if event.kind != "plate.final" and not self.cfg.store_reads:
            return
        caught_up = not self.pending()
        try:
            if not caught_up and self._spool_full():
                raise SpoolError(f"the spool holds more than sinks.sql.spool_max_mb = {self.cfg.spool_max_mb:g} MB "
                                 "that the database has not taken")
            self.spool.append([event.to_json()])
        except (OSError, SpoolError) as exc:
            self.dropped += 1
            if not self._spool_failing:
                log.error("SQL sink: cannot spool events (%s); dropping them until it recovers", exc)
                self._spool_failing = True
            return
        if self._spool_failing:
            log.info("SQL sink: spooling works again (%d events dropped)", self.dropped)
            self._spool_failing = False
        if caught_up or self._behind_since is None:
            self._behind_since = time.monotonic()
        with self._cv:
            self._cv.notify_all()

    def _spool_full(self) -> bool:
        """Over spool_max_mb (only asked while the database is behind: it stats the segments)."""
        cap = self.cfg.spool_max_mb
        return cap is not None and self.spool.pending_bytes() > cap * 1e6

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything published so far is committed; False if the timeout passed, or
        as soon as the writer, woken from its back-off to try once more, failed again: while the
        database is down, waiting only delays a stop (the events are safe in the spool)."""
        target = self.spool.end
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            failures = self._failures
            self._flush_wanted = True
            self._cv.notify_all()
            while self.spool.acked < target and self._thread.is_alive():
                if self._failures > failures:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cv.wait(left if left is not None else 1.0)
            self._flush_wanted = False
            return self.spool.acked >= target

    def close(self, timeout: float = 5.0) -> None:
        """Flush for up to `timeout`, then stop; whatever is left stays spooled for next start."""
        if self._thread.is_alive():
            self.flush(timeout)
            with self._cv:
                self._stopping = True
                self._cv.notify_all()
            self._thread.join(timeout + self.cfg.busy_timeout_s + 5)
        if self.pending():
            log.warning("SQL sink: the database is unavailable; %d bytes of events stay spooled in %s "
                        "and are written at the next start", self.spool.pending_bytes(), self.spool.dir)
        self.spool.close()
        self.engine.dispose()

    def purge(self, older_than: datetime | timedelta) -> int:
        return purge(self.engine, older_than, self.crop_root)

    def pending(self) -> bool:
        return self.spool.acked < self.spool.end

    def metrics(self) -> dict:
        """Figures for the fan-out's status (stats.json, Prometheus): the spool's backlog."""
        behind = self._behind_since
        pending = self.pending()
        return {"spool_bytes": self.spool.pending_bytes(), "available": int(self.available),
                "written": self.written, "rejected": self.rejected, "spool_dropped": self.dropped,
                "lag_s": (time.monotonic() - behind) if pending and behind is not None else 0.0}

    # --- writer thread -------------------------------------------------------------------------
    def _wait(self, seconds: float, until=lambda: False) -> None:
        deadline = time.monotonic() + seconds
        with self._cv:
            while not (self._stopping or until()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cv.wait(left)

    def _next_batch(self, cursor):
        """Records after cursor: as soon as batch_size are there, else after flush_interval_s."""
        self._maybe_purge()  # outside the lock: publish() must never wait for the database
        while self.spool.end <= cursor:
            with self._cv:
                if self._stopping:
                    return None
                if self.spool.end <= cursor:
                    self._cv.wait(self._idle_wait())
            self._maybe_purge()
        mark = self.spool.appended_records
        lines, pos = self.spool.read(cursor, self.cfg.batch_size)
        missing = self.cfg.batch_size - len(lines)
        if missing > 0 and not self._flush_wanted:
            self._wait(self.cfg.flush_interval_s, lambda: self._flush_wanted
                       or self.spool.appended_records - mark >= missing)
            lines, pos = self.spool.read(cursor, self.cfg.batch_size)
        return lines, pos

    def _idle_wait(self) -> float:
        if self.cfg.retention_days is None:
            return 60.0
        return max(0.1, min(60.0, self._next_purge - time.monotonic()))

    def _maybe_purge(self) -> None:
        if self.cfg.retention_days is None or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + self.purge_every_s
        try:
            n = self.purge(timedelta(days=self.cfg.retention_days))
            if n:
                log.info("SQL sink: purged %d rows older than %g days", n, self.cfg.retention_days)
        except Exception as exc:  # retention is best effort; the next hour retries
            log.warning("SQL sink: purge failed: %s", redact(str(exc), self.engine.url))

    def _run(self) -> None:
        cursor = self.spool.acked
        batch = None
        backoff = 0.25
        while True:
            if batch is None:
                batch = self._next_batch(cursor)
                if batch is None:
                    return
            lines, end = batch
            try:
                self._ensure_schema()
                self._write(lines)
            except Exception as exc:  # noqa: BLE001 - anything not poison means "retry later"
                self._set_available(False, exc)
                with self._cv:
                    self._failures += 1
                    self._cv.notify_all()
                if self._stopping:
                    return
                self._wait(backoff, lambda: self._flush_wanted)  # a flush asks for a try now
                backoff = min(backoff * 2, self.cfg.retry_max_s)
                continue
            self.spool.ack(end)
            if not self.pending():
                self._behind_since = None
            cursor, batch, backoff = end, None, 0.25
            self._set_available(True)
            with self._cv:
                self._cv.notify_all()

    def _set_available(self, ok: bool, exc: Exception | None = None) -> None:
        if ok and not self.available:
            log.info("SQL sink: database %s is back; writing spooled events",
                     mask_url(self.engine.url))
        elif not ok:
            msg = redact(str(getattr(exc, "orig", None) or exc).strip().split("\n")[0], self.engine.url)
            if self.available:
                log.warning("SQL sink: cannot write to %s (%s: %s); spooling to %s and retrying",
                            mask_url(self.engine.url), type(exc).__name__, msg, self.spool.dir)
            else:
                log.debug("SQL sink: still failing: %s", msg)
        self.available = ok

    def _ensure_schema(self) -> None:
        if not self._schema_ok:
            state = schema.prepare_database(self.engine)
            if state == "unavailable":
                raise schema.DatabaseUnavailable("database unreachable")
            self._schema_ok = True

    def _parse(self, lines: list[str]) -> list[tuple[str, PlateEvent, dict | None, dict | None]]:
        out = []
        for line in lines:
            try:
                ev = PlateEvent.from_json(line)
                out.append((line, ev) + event_rows(ev, self.cfg.store_reads))
            except (ValueError, TypeError, KeyError, _BadRecord) as exc:
                self._reject(line, exc)
        return out

    def _write(self, lines: list[str]) -> None:
        items = self._parse(lines)
        if not items:
            return
        try:
            self._commit(items)
        except Exception as exc:
            if not _is_poison(exc):
                raise
            for item in items:  # find the bad ones; each good one commits on its own
                try:
                    self._commit([item])
                except Exception as exc1:
                    if not _is_poison(exc1):
                        raise
                    self._reject(item[0], exc1)

    def _commit(self, items) -> None:
        """One transaction; caches (known cameras, counters) change only once it committed."""
        new = sorted({ev.camera_id for _, ev, _, _ in items} - self._cameras)
        finals = [f for _, _, f, _ in items if f is not None]
        reads = [r for _, _, _, r in items if r is not None]
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

    def _reject(self, line: str, exc: Exception) -> None:
        self.rejected += 1
        reason = redact(str(getattr(exc, "orig", None) or exc).split("\n")[0], self.engine.url)
        log.error("SQL sink: rejected a record (%s); kept in %s/rejected.jsonl", reason, self.spool.dir)
        with open(self.spool.dir / "rejected.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"error": reason, "record": line}, ensure_ascii=False) + "\n")
