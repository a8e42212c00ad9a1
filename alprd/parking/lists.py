"""Plate lists in SQL: edited by `alprd plates`, loaded by the daemon as plain data and refreshed.

The tables are alprd.sinks.schema's plate_lists / plate_list_entries (migration 0002). Every change
bumps its list's updated_at, so the daemon's refresh is one cheap aggregate query every few
seconds (lists_version) and a full load only when it changed. ListCache does that in its own
thread: the main loop only reads an immutable tuple, and a database that is down or slow never
stalls it (the last lists loaded stay in force, logged once).
"""
from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Iterable, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from alprd.derived_events import LIST_KINDS
from alprd.parking.match import ListEntry, PlateList, normalise_plate
from alprd.sinks import schema

log = logging.getLogger(__name__)

CSV_FIELDS = ("plate", "label", "valid_from", "valid_until", "note")
DEFAULT_MAX_DISTANCE = 0.8


class ListError(ValueError):
    """A user-fixable problem: unknown list, bad plate or time, malformed CSV (names its line)."""


def _now() -> datetime:
    return schema.utcnow()


def parse_time(text: str | None, what: str) -> datetime | None:
    """ISO 8601; a time without an offset is UTC. Empty = None."""
    from datetime import timezone

    if text is None or not str(text).strip():
        return None
    try:
        t = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ListError(f"{what}: {text!r} is not an ISO 8601 time (e.g. 2026-03-01 or 2026-03-01T08:00Z)") from None
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def _plate(text: str) -> str:
    p = normalise_plate(text or "")
    if not p:
        raise ListError("empty plate")
    if len(p) > 32:
        raise ListError(f"plate {p!r} is longer than 32 characters")
    return p


def _list_row(conn: Connection, name: str):
    row = conn.execute(sa.select(schema.plate_lists).where(schema.plate_lists.c.name == name)).first()
    if row is None:
        names = conn.execute(sa.select(schema.plate_lists.c.name).order_by(schema.plate_lists.c.name)).scalars().all()
        known = ", ".join(names) if names else "none yet: create one with `alprd plates create`"
        raise ListError(f"unknown list {name!r} (lists: {known})")
    return row


def _touch(conn: Connection, list_id: int) -> None:
    conn.execute(sa.update(schema.plate_lists).where(schema.plate_lists.c.id == list_id)
                 .values(updated_at=_now()))


# --- editing (the CLI) ---------------------------------------------------------------------------

def create_list(engine: Engine, name: str, kind: str, max_distance: float = DEFAULT_MAX_DISTANCE,
                cameras: list[str] | None = None) -> None:
    if kind not in LIST_KINDS:
        raise ListError(f"kind must be one of {', '.join(LIST_KINDS)}, not {kind!r}")
    if not name or len(name) > 64:
        raise ListError("a list name has 1 to 64 characters")
    if not 0 <= max_distance <= 8:
        raise ListError("max distance must be between 0 (exact) and 8")
    with engine.begin() as conn:
        if conn.execute(sa.select(schema.plate_lists.c.id).where(schema.plate_lists.c.name == name)).first():
            raise ListError(f"list {name!r} exists already")
        now = _now()
        conn.execute(sa.insert(schema.plate_lists).values(
            name=name, kind=kind, max_distance=float(max_distance), cameras=cameras or None,
            created_at=now, updated_at=now))


def delete_list(engine: Engine, name: str) -> int:
    """Delete a list and its entries; returns how many entries went with it."""
    with engine.begin() as conn:
        row = _list_row(conn, name)
        e = schema.plate_list_entries
        n = conn.execute(sa.delete(e).where(e.c.list_id == row.id)).rowcount or 0
        conn.execute(sa.delete(schema.plate_lists).where(schema.plate_lists.c.id == row.id))
        return n


def _upsert_entries(conn: Connection, list_id: int, entries: Iterable[ListEntry]) -> int:
    e = schema.plate_list_entries
    n = 0
    now = _now()
    for ent in entries:
        conn.execute(sa.delete(e).where(e.c.list_id == list_id, e.c.plate == ent.plate))
        conn.execute(sa.insert(e).values(list_id=list_id, plate=ent.plate, label=ent.label,
                                         valid_from=ent.valid_from, valid_until=ent.valid_until,
                                         note=ent.note, created_at=now))
        n += 1
    return n


def add_entry(engine: Engine, list_name: str, plate: str, label: str | None = None,
              valid_from: datetime | None = None, valid_until: datetime | None = None,
              note: str | None = None) -> ListEntry:
    """Add (or replace) one plate of a list."""
    ent = _entry(plate, label, valid_from, valid_until, note)
    with engine.begin() as conn:
        row = _list_row(conn, list_name)
        _upsert_entries(conn, row.id, [ent])
        _touch(conn, row.id)
    return ent


def remove_entry(engine: Engine, list_name: str, plate: str) -> None:
    p = _plate(plate)
    with engine.begin() as conn:
        row = _list_row(conn, list_name)
        e = schema.plate_list_entries
        if not conn.execute(sa.delete(e).where(e.c.list_id == row.id, e.c.plate == p)).rowcount:
            raise ListError(f"list {list_name!r} has no plate {p!r}")
        _touch(conn, row.id)


def _entry(plate, label, valid_from, valid_until, note) -> ListEntry:
    ent = ListEntry(_plate(plate), (label or None), valid_from, valid_until, (note or None))
    if ent.valid_from and ent.valid_until and ent.valid_until <= ent.valid_from:
        raise ListError("valid_until must be after valid_from")
    return ent


def read_csv(f: TextIO, source: str = "<csv>") -> list[ListEntry]:
    """Entries from CSV with a header naming some of plate,label,valid_from,valid_until,note
    (plate required). Any bad row raises ListError naming its line: nothing is half-imported."""
    reader = csv.reader(f)
    try:
        header = next(reader)
    except StopIteration:
        raise ListError(f"{source}: empty file (expected a header: {','.join(CSV_FIELDS)})") from None
    except csv.Error as exc:
        raise ListError(f"{source}:1: {exc}") from None
    cols = [h.strip().lower() for h in header]
    unknown = [c for c in cols if c not in CSV_FIELDS]
    if "plate" not in cols or unknown:
        raise ListError(f"{source}:1: the header must name plate and only {','.join(CSV_FIELDS)}"
                        + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    out: list[ListEntry] = []
    seen: dict[str, int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ListError(f"{source}:{reader.line_num}: {exc}") from None
        line = reader.line_num
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(cols):
            raise ListError(f"{source}:{line}: {len(row)} fields, the header has {len(cols)}")
        d = dict(zip(cols, (c.strip() for c in row)))
        try:
            ent = _entry(d["plate"], d.get("label"), parse_time(d.get("valid_from"), "valid_from"),
                         parse_time(d.get("valid_until"), "valid_until"), d.get("note"))
        except ListError as exc:
            raise ListError(f"{source}:{line}: {exc}") from None
        if ent.plate in seen:
            raise ListError(f"{source}:{line}: plate {ent.plate} repeats line {seen[ent.plate]}")
        seen[ent.plate] = line
        out.append(ent)
    return out


def import_csv(engine: Engine, list_name: str, f: TextIO, source: str = "<csv>", replace: bool = False) -> int:
    """Add (or with `replace`, set) a list's entries from CSV in one transaction; returns the count."""
    entries = read_csv(f, source)
    with engine.begin() as conn:
        row = _list_row(conn, list_name)
        if replace:
            e = schema.plate_list_entries
            conn.execute(sa.delete(e).where(e.c.list_id == row.id))
        n = _upsert_entries(conn, row.id, entries)
        _touch(conn, row.id)
    return n


def export_csv(engine: Engine, list_name: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for e in get_list(engine, list_name).entries:
        w.writerow([e.plate, e.label or "", _iso(e.valid_from), _iso(e.valid_until), e.note or ""])
    return buf.getvalue()


def _iso(t: datetime | None) -> str:
    return t.isoformat().replace("+00:00", "Z") if t else ""


# --- reading (CLI and daemon) --------------------------------------------------------------------

def _build(rows, entry_rows) -> tuple[PlateList, ...]:
    by_list: dict[int, list[ListEntry]] = {}
    for r in entry_rows:
        by_list.setdefault(r.list_id, []).append(
            ListEntry(r.plate, r.label, r.valid_from, r.valid_until, r.note))
    return tuple(PlateList(r.name, r.kind, float(r.max_distance),
                           tuple(r.cameras) if r.cameras else None,
                           tuple(sorted(by_list.get(r.id, []), key=lambda e: e.plate)))
                 for r in rows)


def load_lists(engine: Engine) -> tuple[PlateList, ...]:
    """Every list with its entries, by name."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(schema.plate_lists).order_by(schema.plate_lists.c.name)).all()
        entries = conn.execute(sa.select(schema.plate_list_entries)).all()
    return _build(rows, entries)


def get_list(engine: Engine, name: str) -> PlateList:
    with engine.connect() as conn:
        row = _list_row(conn, name)
        entries = conn.execute(sa.select(schema.plate_list_entries)
                               .where(schema.plate_list_entries.c.list_id == row.id)).all()
    return _build([row], entries)[0]


def lists_version(engine: Engine) -> tuple:
    """Changes whenever a list or an entry is added, changed or removed (cheap: one aggregate)."""
    pl = schema.plate_lists
    with engine.connect() as conn:
        n, newest, ids = conn.execute(sa.select(sa.func.count(), sa.func.max(pl.c.updated_at),
                                                sa.func.sum(pl.c.id))).one()
    return n, str(newest), ids


def lists_to_json(lists: tuple[PlateList, ...]) -> str:
    return json.dumps([{"name": pl.name, "kind": pl.kind, "max_distance": pl.max_distance,
                        "cameras": list(pl.cameras) if pl.cameras else None,
                        "entries": [[e.plate, e.label, _iso(e.valid_from) or None, _iso(e.valid_until) or None,
                                     e.note] for e in pl.entries]} for pl in lists], ensure_ascii=False)


def lists_from_json(text: str) -> tuple[PlateList, ...]:
    return tuple(PlateList(d["name"], d["kind"], float(d["max_distance"]),
                           tuple(d["cameras"]) if d.get("cameras") else None,
                           tuple(ListEntry(p, label, parse_time(f, "valid_from"), parse_time(u, "valid_until"), note)
                                 for p, label, f, u, note in d["entries"]))
                 for d in json.loads(text))


class ListCache:
    """The daemon's copy of the lists, refreshed every refresh_s in a thread when they changed.

    Each load is also saved to `copy_path` (when given), and a daemon that starts while the
    database is unreachable matches against that copy until the database answers.
    """

    def __init__(self, engine: Engine, refresh_s: float = 5.0, copy_path: str | Path | None = None) -> None:
        self.engine = engine
        self.refresh_s = refresh_s
        self.copy_path = Path(copy_path) if copy_path else None
        self.lists: tuple[PlateList, ...] = ()
        self.loads = 0
        self._version: tuple | None = None
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> bool:
        """Check once; reload if changed. True when the lists were (re)loaded."""
        try:
            version = lists_version(self.engine)
            if version == self._version:
                ok = False
            else:
                self.lists = load_lists(self.engine)
                self._version = version
                self.loads += 1
                self._save_copy()
                log.info("plate lists loaded: %s", ", ".join(
                    f"{pl.name} ({pl.kind}, {len(pl.entries)})" for pl in self.lists) or "none")
                ok = True
        except Exception as exc:  # noqa: BLE001 - the last lists stay in force
            if not self._failing:
                log.warning("plate lists: cannot read them (%s); keeping the %d list(s) loaded before",
                            str(getattr(exc, "orig", None) or exc).splitlines()[0], len(self.lists))
                self._failing = True
            return False
        if self._failing:
            log.info("plate lists: readable again")
            self._failing = False
        return ok

    def _save_copy(self) -> None:
        if self.copy_path is None:
            return
        try:
            self.copy_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.copy_path.with_suffix(".tmp")
            tmp.write_text(lists_to_json(self.lists), encoding="utf-8")
            os.replace(tmp, self.copy_path)
        except OSError as exc:
            log.warning("plate lists: cannot save a copy to %s (%s)", self.copy_path, exc.strerror)

    def _load_copy(self) -> None:
        try:
            self.lists = lists_from_json(self.copy_path.read_text(encoding="utf-8"))  # type: ignore[union-attr]
            log.warning("plate lists: the database is unreachable; matching against the copy saved in %s "
                        "(%d list(s)) until it answers", self.copy_path, len(self.lists))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("plate lists: no usable saved copy in %s (%s)", self.copy_path, exc)

    def start(self) -> "ListCache":
        self.refresh()
        if self._version is None and self.copy_path is not None and self.copy_path.exists():
            self._load_copy()
        self._thread = threading.Thread(target=self._run, name="plate-lists", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_s):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
