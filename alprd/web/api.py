"""The HTTP API: JSON routes, thin over alprd.web.queries (the functions of `alprd query`,
`alprd plates`, `alprd visits`), the crop files, and the live stream (server-sent events).

Parameters are validated by FastAPI (a 422 naming the parameter) or here (a 400 with one line);
a missing or unreachable database is a 503 with one line; nothing answers with a traceback.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from alprd.web import queries

PLATE = dict(max_length=64, description="plate, with * (any run) and ? (one character) wildcards")
CAMERA = dict(max_length=64, description="camera id")
TIME = dict(max_length=64, description="ISO 8601 (UTC if no offset) or an age: 30m, 2h, 3d")
KEEPALIVE_S = 15.0


def _time(text: str | None, name: str) -> datetime | None:
    from datetime import timezone

    from alprd.sinks.sql_query import _RELATIVE, parse_time

    if text is None or not text.strip():
        return None
    try:
        if not _RELATIVE.match(text) and text.strip().lower() != "now":
            # ISO without an offset is UTC here (an API client's local time is not the server's)
            t = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
            if t.tzinfo is None:
                text = t.replace(tzinfo=timezone.utc).isoformat()
        return parse_time(text)
    except (ValueError, OverflowError):
        raise HTTPException(400, f"{name}: not a time: {text!r} (use ISO 8601 like 2024-05-01T08:00Z "
                                 "or an age like 30m, 2h, 3d)") from None


def _event_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise HTTPException(400, f"not an event id: {text[:80]!r} (a UUID)") from None


class EntryIn(BaseModel):
    plate: str = Field(min_length=1, max_length=32)
    label: str | None = Field(default=None, max_length=255)
    note: str | None = Field(default=None, max_length=2000)


def router(state) -> APIRouter:
    """The routes over `state` (alprd.web.app.WebState: settings, engine access, hub, listener)."""
    r = APIRouter(prefix="/api")

    @r.get("/events", summary="stored events, newest first, with the `alprd query` filters")
    def events(plate: str | None = Query(None, **PLATE), camera: str | None = Query(None, **CAMERA),
               since: str | None = Query(None, **TIME), until: str | None = Query(None, **TIME),
               type: Literal["final", "preview"] = Query("final", description="final events, or previews "
                                                          "(stored with sinks.sql.store_reads)"),
               travel: Literal["in", "out", "unknown"] | None = Query(None),
               limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9)) -> dict:
        t0, t1 = _time(since, "since"), _time(until, "until")
        if t0 and t1 and t0 > t1:
            raise HTTPException(400, "since is after until")
        rows = state.query(queries.find_page, kind=f"plate.{type}", limit=limit, offset=offset,
                           plate=plate.strip().upper() if plate and plate.strip() else None,
                           camera=camera or None, since=t0, until=t1, travel=travel)
        return dict(events=rows, limit=limit, offset=offset,
                    next_offset=offset + limit if len(rows) == limit else None)

    @r.get("/events/{event_id}", summary="one stored final event")
    def event(event_id: str) -> dict:
        found = state.query(queries.get_event, _event_id(event_id))
        if found is None:
            raise HTTPException(404, f"no stored event {event_id}")
        return found

    @r.get("/events/{event_id}/crop", summary="the plate crop (JPEG) of a final event, by its id only",
           response_class=FileResponse, responses={200: {"content": {"image/jpeg": {}}}})
    def crop(event_id: str):
        eid = _event_id(event_id)
        stored = state.hub.crops.get(eid)
        if stored is None and state.has_db:
            stored = state.query(queries.crop_path_of, eid)
        path = queries.crop_file(state.settings.crops_root, stored)
        if path is None:
            raise HTTPException(404, f"no crop for event {eid}")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})

    @r.get("/cameras", summary="cameras with their live status (the figures of `alprd status`)")
    def cameras() -> dict:
        from alprd.statsfile import read_assessed

        return queries.cameras(read_assessed(state.settings.stats_path), list(state.settings.cameras))

    @r.get("/live", summary="live events as server-sent events (each `data:` is an event's JSON)",
           response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
    async def live(request: Request, replay: int = Query(0, ge=0, le=10000,
                                                         description="recent events sent first")):
        if state.listener is None:
            raise HTTPException(503, "no live events: the bus is off (sinks.bus.enabled) and no --bus was given")
        client = state.hub.subscribe(replay)

        async def stream():
            sent_lost = 0
            try:
                yield "retry: 2000\n\n"
                while True:
                    try:
                        item = await asyncio.wait_for(client.queue.get(), KEEPALIVE_S)
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if item is None:
                        return
                    if client.lost > sent_lost:
                        yield f"event: gap\ndata: {client.lost - sent_lost}\n\n"
                        sent_lost = client.lost
                    seq, text = item
                    yield f"id: {seq}\ndata: {text}\n\n"
            finally:
                state.hub.unsubscribe(client)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @r.get("/lists", summary="plate lists with their entries (alprd plates)")
    def lists() -> dict:
        return dict(lists=state.query(queries.lists))

    @r.post("/lists/{name}/entries", status_code=201, summary="add or replace a plate of a list (needs auth)")
    def add_entry(name: str, entry: EntryIn = Body(...)) -> dict:
        from alprd.parking.lists import add_entry

        ent = state.query(add_entry, name, entry.plate, label=entry.label, note=entry.note)
        return dict(list=name, plate=ent.plate, label=ent.label, note=ent.note)

    @r.delete("/lists/{name}/entries/{plate}", summary="remove a plate from a list (needs auth)")
    def remove_entry(name: str, plate: str) -> dict:
        from alprd.parking.lists import remove_entry

        state.query(remove_entry, name, plate)
        return dict(list=name, removed=plate)

    @r.get("/matches", summary="plate-list matches, newest first")
    def matches(list: str | None = Query(None, max_length=64), since: str | None = Query(None, **TIME),
                limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9)) -> dict:
        rows = state.query(queries.matches, list_name=list, since=_time(since, "since"), limit=limit, offset=offset)
        return dict(matches=rows, limit=limit, offset=offset,
                    next_offset=offset + limit if len(rows) == limit else None)

    @r.get("/visits", summary="visits (alprd visits) and open visits per site")
    def visits(open: bool = False, plate: str | None = Query(None, max_length=32),
               site: str | None = Query(None, max_length=64), since: str | None = Query(None, **TIME),
               limit: int = Query(100, ge=1, le=1000)) -> dict:
        from alprd.parking.match import normalise_plate

        return state.query(queries.visits, open_only=open, plate=normalise_plate(plate) if plate else None,
                           site=site, since=_time(since, "since"), limit=limit)

    @r.get("/health", summary="this web process: database, bus, live clients")
    def health() -> dict:
        return dict(database=state.db_status(), bus=state.listener.status() if state.listener else None,
                    live=state.hub.status())

    return r
