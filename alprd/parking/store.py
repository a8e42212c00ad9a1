"""SQL reads of the parking tables: visits for `alprd visits`, and the daemon's state at start.

Writes happen only in the SQL sink (from the visit events, through its spool); these are reads.
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alprd.parking.visits import OpenVisit
from alprd.sinks import schema

VISIT_FIELDS = ("visit_id", "site", "plate", "status", "entered_at", "entry_camera", "exit_plate",
                "exited_at", "exit_camera", "dwell_s", "distance", "outcome")


def find_visits(engine: Engine, *, open_only: bool = False, plate: str | None = None,
                since: datetime | None = None, site: str | None = None, limit: int | None = 100) -> list[dict]:
    """Newest first. `since` keeps visits entered (or, without an entry, exited) at or after it."""
    v = schema.visits
    q = sa.select(*(v.c[f] for f in VISIT_FIELDS), v.c.entry_event_id, v.c.exit_event_id)
    if open_only:
        q = q.where(v.c.status == "open")
    if plate:
        q = q.where(sa.or_(v.c.plate == plate, v.c.exit_plate == plate))
    if site:
        q = q.where(v.c.site == site)
    when = sa.func.coalesce(v.c.entered_at, v.c.exited_at)
    if since is not None:
        q = q.where(when >= since)
    q = q.order_by(when.desc(), v.c.id.desc())
    if limit:
        q = q.limit(limit)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def open_visits(engine: Engine, site: str) -> list[OpenVisit]:
    """The open visits of a site, as the daemon's VisitBook starts from."""
    v = schema.visits
    with engine.connect() as conn:
        rows = conn.execute(sa.select(v).where(v.c.site == site, v.c.status == "open")
                            .order_by(v.c.entered_at)).all()
    return [OpenVisit(r.visit_id, r.plate, r.entered_at, r.entry_camera or "", r.entry_event_id or "")
            for r in rows]


def occupancy(engine: Engine) -> dict[str, int]:
    """Open visits per site."""
    v = schema.visits
    with engine.connect() as conn:
        rows = conn.execute(sa.select(v.c.site, sa.func.count()).where(v.c.status == "open")
                            .group_by(v.c.site)).all()
    return {r[0]: int(r[1]) for r in rows}
