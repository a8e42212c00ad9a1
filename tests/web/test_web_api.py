"""The HTTP API over a real server, a real SQLite database and real crop files: every filter of
`alprd query`, paging, one event and its crop, bad parameters (a clear 4xx with one line, never a
500 or a traceback), crop paths that try to leave the crops folder, lists, matches, visits."""
from __future__ import annotations

import json

import httpx
import pytest
import sqlalchemy as sa

from alprd.sinks import schema
from alprd.sinks.db_url import make_engine
from conftest import JPEG, Server, settings_for


def get(server, path, **params):
    return httpx.get(server.url + path, params=params, timeout=60)


def plates(r) -> list[str]:
    assert r.status_code == 200, r.text
    return [e["plate"] for e in r.json()["events"]]


def test_events_newest_first_with_every_field(server, history):
    r = get(server, "/api/events")
    got = r.json()["events"]
    assert [e["event_id"] for e in got] == [e.event_id for e in reversed(history.finals)]
    first = got[-1]
    assert first["kind"] == "plate.final" and first["camera_id"] == "gate" and first["reads"] == 5
    assert first["has_crop"] is True and "crop_path" not in first  # never the server's file path
    assert r.headers["x-content-type-options"] == "nosniff"


def test_plate_filter_exact_and_wildcards(server):
    assert plates(get(server, "/api/events", plate="粤LQ092V")) == ["粤LQ092V"]
    assert plates(get(server, "/api/events", plate="粤lq092v")) == ["粤LQ092V"]  # upper-cased like the CLI
    assert plates(get(server, "/api/events", plate="粤*")) == ["粤LQ092V"]
    assert sorted(plates(get(server, "/api/events", plate="A0001?"))) == ["A00010", "A00011"]
    assert plates(get(server, "/api/events", plate="A%")) == []  # SQL wildcards are data
    assert plates(get(server, "/api/events", plate="' OR '1'='1")) == []


def test_camera_time_travel_and_type_filters(server, history):
    assert set(e["camera_id"] for e in get(server, "/api/events", camera="yard").json()["events"]) == {"yard"}
    assert len(get(server, "/api/events", camera="yard").json()["events"]) == 6
    assert get(server, "/api/events", camera="nope").json()["events"] == []
    # last_seen of event i is 08:00 + i minutes (UTC)
    assert sorted(plates(get(server, "/api/events", since="2026-03-01T08:09:00Z"))) == ["A00009", "A00010", "A00011"]
    assert sorted(plates(get(server, "/api/events", until="2026-03-01T08:01:00Z"))) == ["A00000", "A00001"]
    assert plates(get(server, "/api/events", since="2026-03-01T08:03", until="2026-03-01T08:03")) == ["粤LQ092V"]
    assert plates(get(server, "/api/events", since="1h")) == []  # an age: these events are older
    assert len(get(server, "/api/events", since="100000d").json()["events"]) == 12
    ins = get(server, "/api/events", travel="in").json()["events"]
    assert {e["travel"] for e in ins} == {"in"} and len(ins) == 4
    prev = get(server, "/api/events", type="preview").json()["events"]
    assert [e["plate"] for e in prev] == ["B00001", "B00000"] and {e["kind"] for e in prev} == {"plate.preview"}


def test_paging_walks_every_event_once(server, history):
    seen, offset = [], 0
    while offset is not None:
        body = get(server, "/api/events", limit=5, offset=offset).json()
        assert len(body["events"]) <= 5
        seen += [e["event_id"] for e in body["events"]]
        offset = body["next_offset"]
    assert seen == [e.event_id for e in reversed(history.finals)]
    assert get(server, "/api/events", offset=12).json() == {"events": [], "limit": 50, "offset": 12, "next_offset": None}


def test_one_event_with_its_list_match_and_crop(server, history):
    sq = history.finals[3]
    r = get(server, f"/api/events/{sq.event_id}")
    assert r.status_code == 200 and r.json()["plate"] == "粤LQ092V"
    assert r.json()["matches"] == [dict(list_name="vip", list_kind="allow", entry_plate="粤LQ092V",
                                        entry_label="boss", distance=0.0)]
    crop = get(server, f"/api/events/{sq.event_id}/crop")
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert crop.content == JPEG + "粤LQ092V".encode()
    listed = {e["event_id"]: e for e in get(server, "/api/events").json()["events"]}
    assert listed[sq.event_id]["matches"][0]["list_name"] == "vip"
    assert listed[history.finals[0].event_id]["matches"] == []


@pytest.mark.parametrize("path, params, status, says", [
    ("/api/events", {"since": "yesterday-ish"}, 400, "since: not a time"),
    ("/api/events", {"until": "2026-13-45"}, 400, "until: not a time"),
    ("/api/events", {"since": "2026-03-02", "until": "2026-03-01"}, 400, "since is after until"),
    ("/api/events", {"limit": "0"}, 422, "limit"),
    ("/api/events", {"limit": "100000"}, 422, "limit"),
    ("/api/events", {"limit": "ten"}, 422, "limit"),
    ("/api/events", {"offset": "-1"}, 422, "offset"),
    ("/api/events", {"offset": str(2 ** 70)}, 422, "offset"),
    ("/api/events", {"type": "sideways"}, 422, "type"),
    ("/api/events", {"travel": "up"}, 422, "travel"),
    ("/api/events", {"plate": "A" * 65}, 422, "plate"),
    ("/api/events", {"since": "9" * 40 + "d"}, 200, None),  # clamped to the earliest time, like the CLI
    ("/api/events", {"since": "0001-01-01T00:00:00+14:00"}, 200, None),
    ("/api/events/not-a-uuid", {}, 400, "not an event id"),
    ("/api/events/00000000-0000-0000-0000-000000000000", {}, 404, "no stored event"),
    ("/api/events/00000000-0000-0000-0000-000000000000/crop", {}, 404, "no crop"),
    ("/api/events/..%2F..%2Fetc%2Fpasswd/crop", {}, 404, "Not Found"),  # %2F decodes: no route
    ("/api/events/..%5C..%5Cetc%5Cpasswd/crop", {}, 400, "not an event id"),
    ("/api/matches", {"since": "soon"}, 400, "since: not a time"),
    ("/api/visits", {"limit": "-3"}, 422, "limit"),
    ("/api/live", {"replay": "-1"}, 422, "replay"),
    ("/api/nothing-here", {}, 404, "Not Found"),
])
def test_bad_parameters_get_a_clear_4xx(server, path, params, status, says):
    r = get(server, path, **params)
    assert r.status_code == status, r.text
    if says:
        detail = r.json()["detail"]
        assert isinstance(detail, str) and says in detail and "Traceback" not in detail and "\n" not in detail


def _set_crop_path(history, event, stored: str) -> None:
    engine = make_engine(history.url)
    with engine.begin() as conn:
        conn.execute(sa.update(schema.plate_events).where(schema.plate_events.c.event_id == event.event_id)
                     .values(crop_path=stored))
    engine.dispose()


@pytest.mark.parametrize("stored", [
    "../../../../../../etc/passwd",
    "/etc/passwd",
    "var/crops/2026-03-01/../../secret.jpg",
    "var/crops/../secret.jpg",
    "var/crops/2026-03-01/..",
    "var/crops/2026-03-01/link.jpg",        # a symbolic link out of the crops folder
    "var/crops/2026-03-01/%2e%2e.jpg",
    "",
])
def test_a_crop_path_that_tries_to_escape_is_never_served(tmp_path, history, stored):
    """The crop URL takes an event id only; even a crop_path planted in the database (the only
    way a path reaches the server) cannot name a file outside the crops folder."""
    from conftest import History

    h = History(tmp_path / "state")
    secret = tmp_path / "state" / "secret.jpg"
    secret.write_bytes(b"SECRET")
    (tmp_path / "state" / "crops" / "2026-03-01" / "link.jpg").symlink_to(secret)
    victim = h.finals[0]
    _set_crop_path(h, victim, stored)
    s = Server(settings_for(h.state_dir, h.url))
    try:
        r = httpx.get(f"{s.url}/api/events/{victim.event_id}/crop", timeout=60)
        assert r.status_code == 404 and b"SECRET" not in r.content and b"root:" not in r.content
        ok = httpx.get(f"{s.url}/api/events/{h.finals[1].event_id}/crop", timeout=60)
        assert ok.status_code == 200  # the check is not a refusal of every crop
    finally:
        s.close()


def test_static_files_cannot_be_left_either(server):
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fsettings.py"):
        r = httpx.get(server.url + path, timeout=60)
        assert r.status_code == 404 and b"import" not in r.content


def test_the_page_and_openapi_are_served(server):
    page = httpx.get(server.url + "/", timeout=60)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    spec = httpx.get(server.url + "/openapi.json", timeout=60).json()
    for p in ("/api/events", "/api/events/{event_id}", "/api/events/{event_id}/crop", "/api/cameras",
              "/api/live", "/api/lists", "/api/matches", "/api/visits"):
        assert p in spec["paths"], p
    assert {q["name"] for q in spec["paths"]["/api/events"]["get"]["parameters"]} >= {
        "plate", "camera", "since", "until", "type", "travel", "limit", "offset"}


def test_cameras_are_the_figures_of_alprd_status(server, history):
    import os
    import time

    stats = {"pid": os.getpid(), "written_at": time.time(), "healthy": True, "recent_fps": 9.5,
             "cameras": {"gate": {"connected": True, "state": "running", "fps": 9.5, "processed": 120,
                                  "dropped": 3, "stale": 1, "lost": 0, "waiting": 2, "open_tracks": 1,
                                  "events": {"plate.final": 4}}},
             "decoders": {"gate": {"reconnects": 2}}}
    (history.state_dir / "stats.json").write_text(json.dumps(stats))
    try:
        body = get(server, "/api/cameras").json()
    finally:
        (history.state_dir / "stats.json").unlink()
    assert body["running"] is True
    gate, yard = body["cameras"]
    assert gate == {**gate, "camera_id": "gate", "link": "up", "fps": 9.5, "processed": 120, "dropped": 3,
                    "skipped": 4, "waiting": 2, "reconnects": 2}
    assert yard == {"camera_id": "yard", "link": "down"}  # configured, not in the snapshot
    down = get(server, "/api/cameras").json()  # no stats.json: not running, every camera down
    assert down["running"] is False and {c["link"] for c in down["cameras"]} == {"down"}


def test_lists_matches_and_visits(server):
    assert get(server, "/api/lists").json() == {"lists": []}
    m = get(server, "/api/matches").json()["matches"]
    assert len(m) == 1 and m[0]["read"] == "粤LQ092V" and m[0]["list_name"] == "vip"
    assert get(server, "/api/matches", list="other").json()["matches"] == []
    v = get(server, "/api/visits").json()
    assert v == {"visits": [], "occupancy": {}}


def test_writes_are_refused_without_a_credential(server):
    r = httpx.post(server.url + "/api/lists/vip/entries", json={"plate": "粤B12345"}, timeout=60)
    assert r.status_code == 403 and "credential" in r.json()["detail"]
    r = httpx.delete(server.url + "/api/lists/vip/entries/X", timeout=60)
    assert r.status_code == 403


def test_no_database_is_a_503_with_one_line(tmp_path):
    s = Server(settings_for(tmp_path, f"sqlite:///{tmp_path / 'missing.db'}"))
    try:
        r = httpx.get(s.url + "/api/events", timeout=60)
        assert r.status_code == 503 and "no database at" in r.json()["detail"]
        assert httpx.get(s.url + "/api/cameras", timeout=60).status_code == 200  # the panel still works
    finally:
        s.close()


def test_a_match_made_on_the_preview_highlights_the_final(tmp_path):
    """The parking stage matches a vehicle once, often on its preview (the derived id is the
    track's): the final's row must still show it, and a later track that reuses the id (a daemon
    restart starts track ids at 1 again) must not."""
    from dataclasses import replace
    from datetime import timedelta

    from alprd.derived_events import PlateMatch, derived_id
    from alprd.sinks.sql import SqlTarget
    from conftest import History

    h = History(tmp_path / "state")
    final = h.finals[5]
    preview = replace(final, kind="plate.preview", event_id="11111111-2222-4333-8444-555555555555",
                      last_seen=final.first_seen + timedelta(seconds=1), crop_path=None)
    later = replace(final, event_id="66666666-2222-4333-8444-555555555555",
                    first_seen=final.first_seen + timedelta(days=1), last_seen=final.last_seen + timedelta(days=1))
    match = PlateMatch(camera_id=final.camera_id, track_id=final.track_id, read=final.plate, list_name="watched",
                       list_kind="watch", entry_plate=final.plate, entry_label=None, distance=0.0,
                       source_kind="plate.preview", source_event_id=preview.event_id, seen_at=preview.last_seen,
                       event_id=derived_id("plate.match", preview.event_id, "watched"))
    engine = make_engine(h.url)
    assert SqlTarget(engine, store_reads=True).write([preview.to_json(), later.to_json(), match.to_json()]) == []
    engine.dispose()
    s = Server(settings_for(h.state_dir, h.url))
    try:
        got = {e["event_id"]: e for e in httpx.get(s.url + "/api/events", timeout=60).json()["events"]}
        assert [m["list_name"] for m in got[final.event_id]["matches"]] == ["watched"]
        assert got[later.event_id]["matches"] == []
        one = httpx.get(f"{s.url}/api/events/{final.event_id}", timeout=60).json()
        assert [m["list_kind"] for m in one["matches"]] == ["watch"]
    finally:
        s.close()
