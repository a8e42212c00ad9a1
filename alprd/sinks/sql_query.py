"""Reading events back: plate patterns, time bounds, and rows rebuilt as PlateEvents.

User plate patterns use shell wildcards (``*`` any run, ``?`` one character); everything else,
SQL wildcards and quotes included, is literal data. Values travel as bound parameters, and the
pattern is translated per dialect so the plate index still serves prefixes: GLOB on SQLite
(case-sensitive, BINARY collation index), LIKE with backslash escapes on PostgreSQL (C collation).
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alprd.events import PlateEvent
from alprd.sinks import schema

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Times beyond what datetime holds (an age of 999999999d, 0001-01-01 moved to UTC) are clamped to
# its ends: "since forever" means every event, not an OverflowError traceback.
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
LATEST = datetime.max.replace(tzinfo=timezone.utc)


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """ISO 8601 (naive = local time) or relative to now: ``90s``, ``15m``, ``2h``, ``3d``, ``1w``;
    clamped to EARLIEST/LATEST when out of datetime's range."""
    now = now or datetime.now(timezone.utc)
    if text.strip().lower() == "now":
        return now
    m = _RELATIVE.match(text)
    if m:
        try:
            return now - timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})
        except OverflowError:
            return EARLIEST
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {text!r} (use ISO 8601 like 2024-05-01T08:00 or "
                         "a relative age like 30m, 2h, 3d)") from None
    try:
        if t.tzinfo is None:
            t = t.astimezone()  # naive input is the user's local time
        return t.astimezone(timezone.utc)
    except (OverflowError, ValueError):  # within a day of year 1 or 9999
        return EARLIEST if t.year < 5000 else LATEST


def has_wildcards(pattern: str) -> bool:
    return "*" in pattern or "?" in pattern


def glob_pattern(pattern: str) -> str:
    """SQLite GLOB: '*' and '?' stay wildcards; '[' (GLOB's only other special) is bracketed."""
    return pattern.replace("[", "[[]")


def like_pattern(pattern: str) -> str:
    """LIKE with '\\' as escape: the data's '\\', '%', '_' escaped, then '*'→'%', '?'→'_'."""
    out = []
    for ch in pattern:
        if ch in "\\%_":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def plate_condition(column, pattern: str, dialect: str):
    if not has_wildcards(pattern):
        return column == pattern
    if dialect == "sqlite":
        return column.op("GLOB")(glob_pattern(pattern))
    return column.like(like_pattern(pattern), escape="\\")


def select_events(dialect: str, *, plate: str | None = None, camera: str | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  limit: int | None = 100, offset: int = 0, travel: str | None = None) -> sa.Select:
    t = schema.plate_events
    q = sa.select(t)
    if plate:
        q = q.where(plate_condition(t.c.plate, plate, dialect))
    if camera:
        q = q.where(t.c.camera_id == camera)
    if since is not None:
        q = q.where(t.c.last_seen >= since)
    if until is not None:
        q = q.where(t.c.last_seen <= until)
    if travel:
        q = q.where(t.c.travel == travel)
    q = q.order_by(t.c.last_seen.desc(), t.c.id.desc())
    if offset:
        q = q.offset(offset)
    return q.limit(limit) if limit else q


def row_to_event(row) -> PlateEvent:
    return PlateEvent.from_dict(dict(
        kind="plate.final", event_id=str(row.event_id), camera_id=row.camera_id,
        track_id=row.track_id, plate=row.plate, confidence=row.confidence,
        alternatives=row.alternatives or [], reads=row.reads, first_seen=row.first_seen,
        last_seen=row.last_seen, direction=row.direction, parked=bool(row.parked),
        crop_path=row.crop_path, corners=row.corners, schema_version=row.schema_version,
        travel=row.travel))


def find_events(engine: Engine, **filters) -> list[PlateEvent]:
    """Final events matching the filters of select_events(), newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select_events(engine.dialect.name, **filters)).all()
    return [row_to_event(r) for r in rows]
