"""The API's reads: thin over the functions `alprd query`, `alprd plates` and `alprd visits` use.

Each returns plain JSON-able data. Filters arrive already validated (api.py); a database that is
missing, at another schema revision or unreachable raises Unavailable (a 503, one line).
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alprd.sinks import schema
from alprd.sinks.sql_query import find_events

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CROP_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,200}\.jpg$")


class Unavailable(RuntimeError):
    """No history here: no database configured, none yet, or it cannot be read (one line)."""


def _iso(v):
    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    return v


def event_json(ev) -> dict:
    """A PlateEvent as the bus carries it, plus `crop_url` when it has a crop (never the path)."""
    d = ev.to_dict()
    d.pop("crop_path", None)
    d["has_crop"] = bool(ev.crop_path)
    return d


def find_page(engine: Engine, *, kind: str, limit: int, offset: int, **filters) -> list[dict]:
    """One page of events, newest first: finals from plate_events (the `alprd query` function),
    previews from plate_reads (stored only with sinks.sql.store_reads)."""
    if kind == "plate.final":
        events = find_events(engine, limit=limit, offset=offset, **filters)
        rows = [event_json(ev) for ev in events]
    else:
        rows = _previews(engine, limit=limit, offset=offset, **filters)
    _attach_matches(engine, rows)
    return rows


def _previews(engine: Engine, *, limit: int, offset: int, plate=None, camera=None, since=None,
              until=None, travel=None) -> list[dict]:
    from alprd.sinks.sql_query import plate_condition

    t = schema.plate_reads
    q = sa.select(t).where(t.c.kind == "plate.preview")
    if plate:
        q = q.where(plate_condition(t.c.plate, plate, engine.dialect.name))
    if camera:
        q = q.where(t.c.camera_id == camera)
    if since is not None:
        q = q.where(t.c.seen_at >= since)
    if until is not None:
        q = q.where(t.c.seen_at <= until)
    if travel:  # plate_reads keeps no travel: a travel filter matches no preview
        return []
    q = q.order_by(t.c.seen_at.desc(), t.c.id.desc()).offset(offset).limit(limit)
    with engine.connect() as conn:
        return [dict(kind=r.kind, event_id=str(uuid.UUID(str(r.event_id))), camera_id=r.camera_id,
                     track_id=r.track_id, plate=r.plate, confidence=r.confidence, reads=r.reads,
                     first_seen=_iso(r.seen_at), last_seen=_iso(r.seen_at), corners=r.corners,
                     has_crop=False) for r in conn.execute(q)]


def _attach_matches(engine: Engine, rows: list[dict]) -> None:
    """Each event's plate-list matches, for highlighting: those of its track (camera, track id)
    seen while the track lasted. Not by source_event_id alone: a vehicle matched on its preview
    is matched once (the derived id is the track's), so its final's row names the preview."""
    for r in rows:
        r["matches"] = []
    if not rows:
        return
    m = schema.plate_matches
    times = [_parse(r["first_seen"]) for r in rows] + [_parse(r["last_seen"]) for r in rows]
    q = (sa.select(m.c.camera_id, m.c.track_id, m.c.seen_at, m.c.source_event_id, m.c.list_name, m.c.list_kind,
                   m.c.entry_plate, m.c.entry_label, m.c.distance)
         .where(m.c.camera_id.in_({r["camera_id"] for r in rows}), m.c.track_id.in_({r["track_id"] for r in rows}),
                m.c.seen_at >= min(times), m.c.seen_at <= max(times))
         .order_by(m.c.seen_at, m.c.id))
    with engine.connect() as conn:
        found = conn.execute(q).all()
    for r in rows:
        t0, t1 = _parse(r["first_seen"]), _parse(r["last_seen"])
        seen = set()
        for x in found:
            if x.camera_id == r["camera_id"] and x.track_id == r["track_id"] and t0 <= x.seen_at <= t1 \
                    and x.list_name not in seen:
                seen.add(x.list_name)
                r["matches"].append(dict(list_name=x.list_name, list_kind=x.list_kind, entry_plate=x.entry_plate,
                                         entry_label=x.entry_label, distance=x.distance))


def _parse(iso: str) -> datetime:
    from alprd.events import _parse_time

    return _parse_time(iso)


def _event_row(engine: Engine, event_id: str):
    t = schema.plate_events
    with engine.connect() as conn:
        return conn.execute(sa.select(t).where(t.c.event_id == event_id)).first()


def get_event(engine: Engine, event_id: str) -> dict | None:
    from alprd.sinks.sql_query import row_to_event

    row = _event_row(engine, event_id)
    if row is None:
        return None
    out = event_json(row_to_event(row))
    _attach_matches(engine, [out])
    return out


def crop_path_of(engine: Engine, event_id: str) -> str | None:
    row = _event_row(engine, event_id)
    return row.crop_path if row is not None else None


def crop_file(crops_root: Path, stored: str | None) -> Path | None:
    """The crop file under `crops_root` that a stored crop_path names, or None.

    Only the last two parts of the stored path count (<YYYY-MM-DD>/<name>.jpg, as the daemon's
    CropStore writes them), each checked against its pattern, and the resolved file (symbolic
    links followed) must still lie under the crops folder: a crafted crop_path in the database
    (`../../etc/passwd`, an absolute path, a link out) can never name another file. It also finds
    the file when the web process runs in another directory than the daemon."""
    if not stored:
        return None
    parts = Path(stored).parts
    if len(parts) < 2 or not _DAY.match(parts[-2]) or not _CROP_NAME.match(parts[-1]):
        return None
    root = crops_root.resolve()
    path = (root / parts[-2] / parts[-1]).resolve()
    if path.parent.parent != root or not path.is_file():
        return None
    return path


def lists(engine: Engine) -> list[dict]:
    from alprd.parking.lists import load_lists

    return [dict(name=pl.name, kind=pl.kind, max_distance=pl.max_distance,
                 cameras=list(pl.cameras) if pl.cameras else None,
                 entries=[dict(plate=e.plate, label=e.label, valid_from=_iso(e.valid_from),
                               valid_until=_iso(e.valid_until), note=e.note) for e in pl.entries])
            for pl in load_lists(engine)]


def visits(engine: Engine, **filters) -> dict:
    from alprd.parking.store import find_visits, occupancy

    rows = [{k: _iso(v) for k, v in r.items()} for r in find_visits(engine, **filters)]
    return dict(visits=rows, occupancy=occupancy(engine))


def matches(engine: Engine, *, list_name: str | None, since: datetime | None, limit: int, offset: int) -> list[dict]:
    m = schema.plate_matches
    q = sa.select(m)
    if list_name:
        q = q.where(m.c.list_name == list_name)
    if since is not None:
        q = q.where(m.c.seen_at >= since)
    q = q.order_by(m.c.seen_at.desc(), m.c.id.desc()).offset(offset).limit(limit)
    with engine.connect() as conn:
        return [{k: (_iso(v) if k != "event_id" else str(uuid.UUID(str(v)))) for k, v in r._mapping.items()
                 if k != "id"} for r in conn.execute(q)]


def cameras(snapshot: dict | None, configured: list[str]) -> dict:
    """The camera panel: per camera the numbers `alprd status` prints, from the same stats.json."""
    if snapshot is None:
        return dict(running=False, age_s=None, cameras=[dict(camera_id=c, link="down") for c in configured])
    decs = snapshot.get("decoders") or {}
    out = []
    cams = snapshot.get("cameras") or {}
    for cid, c in cams.items():
        if not isinstance(c, dict):
            continue
        link = "up" if c.get("connected") else "down"
        if c.get("state") not in (None, "running"):
            link = str(c["state"])
        if not snapshot.get("running"):
            link = "down"
        d = decs.get(cid) if isinstance(decs.get(cid), dict) else {}
        skipped = sum(c.get(k, 0) for k in ("dropped", "stale", "lost") if isinstance(c.get(k, 0), (int, float)))
        out.append(dict(camera_id=cid, link=link, connected=bool(c.get("connected")), state=c.get("state"),
                        fps=c.get("fps"), processed=c.get("processed"), dropped=c.get("dropped"),
                        stale=c.get("stale"), lost=c.get("lost"), skipped=skipped, waiting=c.get("waiting"),
                        open_tracks=c.get("open_tracks"), events=c.get("events") or {},
                        reconnects=d.get("reconnects")))
    for cid in configured:
        if cid not in cams:
            out.append(dict(camera_id=cid, link="down"))
    return dict(running=bool(snapshot.get("running")), healthy=snapshot.get("healthy", True),
                age_s=snapshot.get("age_s"), recent_fps=snapshot.get("recent_fps"),
                processed_fps=snapshot.get("processed_fps"), frames=snapshot.get("frames") or {},
                cameras=out)
