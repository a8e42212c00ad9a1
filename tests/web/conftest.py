"""Fixtures of the web tests: a real SQLite database written by the SQL sink's own target, crop
files where the daemon's CropStore puts them, a real ZeroMQ bus (the daemon's BusSink on a
loopback port) and the real server (uvicorn on a loopback port) in a thread."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from alprd.derived_events import PlateMatch, derived_id
from alprd.events import PlateEvent
from alprd.sinks import schema
from alprd.sinks.db_url import make_engine
from alprd.sinks.sql import SqlTarget
from alprd.web.settings import Credentials, WebSettings

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc)
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")  # a minimal JFIF frame


def plate_event(i: int, plate: str, camera: str, *, kind: str = "plate.final", travel: str = "unknown",
                crop: str | None = None) -> PlateEvent:
    t = T0 + timedelta(minutes=i)
    return PlateEvent(kind, camera, i, plate, 0.9, t - timedelta(seconds=3), t, 5, travel=travel,
                      crop_path=crop)


class History:
    """What a test database holds: 12 finals over two cameras, 2 previews, 1 list match."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.url = f"sqlite:///{state_dir / 'alprd.db'}"
        engine = make_engine(self.url)
        schema.upgrade(engine)
        crops = state_dir / "crops" / "2026-03-01"
        crops.mkdir(parents=True)
        events = []
        for i in range(12):
            cam = "gate" if i % 2 == 0 else "yard"
            plate = "粤LQ092V" if i == 3 else f"A{i:05d}"
            ev = plate_event(i, plate, cam, travel="in" if i % 3 == 0 else "out")
            name = f"{cam}_{i}_{ev.event_id[:8]}.jpg"
            (crops / name).write_bytes(JPEG + plate.encode())
            events.append(replace(ev, crop_path=str(Path("var") / "crops" / "2026-03-01" / name)))
        self.finals = events
        self.previews = [plate_event(20 + i, f"B{i:05d}", "gate", kind="plate.preview") for i in range(2)]
        sq = self.finals[3]
        self.match = PlateMatch(camera_id=sq.camera_id, track_id=sq.track_id, read=sq.plate, list_name="vip",
                                list_kind="allow", entry_plate=sq.plate, entry_label="boss", distance=0.0,
                                source_kind="plate.final", source_event_id=sq.event_id, seen_at=sq.last_seen,
                                event_id=derived_id("plate.match", sq.event_id, "vip"))
        target = SqlTarget(engine, store_reads=True)
        assert target.write([e.to_json() for e in self.finals + self.previews] + [self.match.to_json()]) == []
        engine.dispose()


class Server:
    """alprd.web.server.serve in a thread, on a free loopback port (or the given bind)."""

    def __init__(self, settings: WebSettings) -> None:
        from alprd.web.server import serve

        self.stop = threading.Event()
        self.ready = threading.Event()
        self.url = None

        def on_ready(url):
            self.url = url.rstrip("/")
            self.ready.set()

        self.thread = threading.Thread(target=serve, args=(settings,),
                                       kwargs=dict(stop=self.stop, own_signals=False, on_ready=on_ready),
                                       daemon=True)
        self.thread.start()
        assert self.ready.wait(120), "the web server did not start"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "the web server did not stop"


def settings_for(state_dir: Path, url: str | None, *, bus: str | None = None, bind: str = "127.0.0.1",
                 creds: Credentials = Credentials(), cameras=("gate", "yard")) -> WebSettings:
    return WebSettings(db_url=url, bus_endpoint=bus, state_dir=state_dir, bind=bind, port=0,
                       credentials=creds, cameras=tuple(cameras))


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> History:
    return History(tmp_path_factory.mktemp("web-history"))


@pytest.fixture(scope="module")
def server(history):
    s = Server(settings_for(history.state_dir, history.url))
    yield s
    s.close()
