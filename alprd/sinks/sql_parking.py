"""The SQL sink's part for the parking events: plate.match rows and visit rows (migration 0002).

Idempotent like the rest of the sink (a replayed batch changes nothing): plate_matches and a
visit.open insert ON CONFLICT DO NOTHING on their event/visit id; a visit.closed is an upsert on
visit_id that sets the exit, dwell and outcome (and the entry too, when the open row is missing,
e.g. an expired visit whose open was purged, or an exit without an entry).
"""
from __future__ import annotations

import uuid

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from alprd.derived_events import PlateMatch, VisitEvent
from alprd.sinks import schema

KINDS = PlateMatch.KINDS + VisitEvent.KINDS

_VISIT_COLUMNS = ("site", "plate", "entered_at", "entry_camera", "entry_event_id", "exit_plate",
                  "exited_at", "exit_camera", "exit_event_id", "dwell_s", "distance", "outcome")


def check(event: PlateMatch | VisitEvent) -> None:
    """Raise ValueError for what the tables cannot hold (the record is then rejected, not retried)."""
    uuid.UUID(event.event_id)
    if len(event.camera_id) > 64:
        raise ValueError("camera_id longer than 64 characters")
    plates = (event.read, event.entry_plate) if isinstance(event, PlateMatch) else (event.plate, event.exit_plate)
    if any(p is not None and len(p) > 32 for p in plates):
        raise ValueError("plate longer than 32 characters")


def _ins(conn: Connection):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)


def write(conn: Connection, events: list[PlateMatch | VisitEvent]) -> None:
    """Insert/upsert the rows of these events, in their order, in the caller's transaction."""
    ins = _ins(conn)
    for ev in events:
        if isinstance(ev, PlateMatch):
            row = {k: v for k, v in ev.to_dict().items() if k not in ("kind", "schema_version")}
            row["seen_at"] = ev.seen_at
            conn.execute(ins(schema.plate_matches).values(row).on_conflict_do_nothing(index_elements=["event_id"]))
            continue
        row = {c: getattr(ev, c) for c in _VISIT_COLUMNS}
        row["visit_id"] = ev.visit_id
        if ev.kind == "visit.open":
            row["status"] = "open"
            conn.execute(ins(schema.visits).values(row).on_conflict_do_nothing(index_elements=["visit_id"]))
        else:
            row["status"] = "closed"
            update = {c: row[c] for c in ("exit_plate", "exited_at", "exit_camera", "exit_event_id",
                                          "dwell_s", "distance", "outcome", "status")}
            conn.execute(ins(schema.visits).values(row)
                         .on_conflict_do_update(index_elements=["visit_id"], set_=update))
