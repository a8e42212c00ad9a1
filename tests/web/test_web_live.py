"""The live stream: the daemon's real bus (BusSink on a loopback port) → the web process's one
subscription → server-sent events to each client. Events arrive whole (Chinese text intact),
a final's crop is served by its id before SQL has the row, a page opened later gets the recent
events, and a malformed bus message is skipped without ending anybody's stream."""
from __future__ import annotations

import json
import queue
import threading
import time

import httpx
import pytest
import zmq

from alprd.config import BusSinkConfig
from alprd.sinks.bus import BusSink
from conftest import JPEG, Server, plate_event, settings_for


class SseClient:
    """Reads /api/live in a thread; every data line's JSON goes on a queue."""

    def __init__(self, url: str, replay: int = 0) -> None:
        self.events: queue.Queue = queue.Queue()
        self.opened = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, args=(url, replay), daemon=True)
        self._thread.start()
        assert self.opened.wait(120), "the live stream did not open"

    def _run(self, url, replay):
        with httpx.Client(timeout=httpx.Timeout(120, read=None)) as c:
            with c.stream("GET", f"{url}/api/live", params={"replay": replay}) as r:
                assert r.headers["content-type"].startswith("text/event-stream")
                self.opened.set()
                for line in r.iter_lines():
                    if self._stop:
                        return
                    if line.startswith("data: "):
                        self.events.put(json.loads(line[6:]))

    def next(self, timeout: float = 120) -> dict:
        return self.events.get(timeout=timeout)

    def close(self):
        self._stop = True


@pytest.fixture
def bus():
    sink = BusSink(BusSinkConfig(endpoint="tcp://127.0.0.1:0"))
    yield sink
    sink.close()


def wait_subscribed(server, bus, deadline: float = 120) -> None:
    """Publish probes until the web process's subscription is in (a SUB joins asynchronously)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        bus.publish(plate_event(99, "PROBE", "gate", kind="plate.preview"))
        if httpx.get(server.url + "/api/health", timeout=60).json()["live"]["received"] > 0:
            return
        time.sleep(0.2)
    raise AssertionError("the web process never received from the bus")


def test_live_events_reach_every_client_with_their_crop(tmp_path, bus):
    crops = tmp_path / "crops" / "2026-03-01"
    crops.mkdir(parents=True)
    s = Server(settings_for(tmp_path, None, bus=bus.endpoint))
    clients = []
    try:
        wait_subscribed(s, bus)
        clients = [SseClient(s.url) for _ in range(3)]
        final = plate_event(1, "粤LQ092V", "gate")
        (crops / f"gate_1_{final.event_id[:8]}.jpg").write_bytes(JPEG)
        final = final.__class__(**{**final.__dict__, "crop_path": str(crops / f"gate_1_{final.event_id[:8]}.jpg")})
        preview = plate_event(1, "粤LQ092", "gate", kind="plate.preview")
        bus.publish(preview)
        bus.publish(final)
        for c in clients:
            got = [c.next(), c.next()]
            got = [e for e in got if e["plate"] != "PROBE"] or [c.next()]
            while len(got) < 2:
                e = c.next()
                if e["plate"] != "PROBE":
                    got.append(e)
            assert [(e["kind"], e["plate"]) for e in got] == [("plate.preview", "粤LQ092"), ("plate.final", "粤LQ092V")]
            assert got[1]["has_crop"] is True and "crop_path" not in got[1]
        # no database at all: the crop of a live event is found from the bus's own record of it
        r = httpx.get(f"{s.url}/api/events/{final.event_id}/crop", timeout=60)
        assert r.status_code == 200 and r.content == JPEG
        # a page opened later gets the recent events first
        late = SseClient(s.url, replay=2)
        assert [late.next()["plate"], late.next()["plate"]] == ["粤LQ092", "粤LQ092V"]
        clients.append(late)
        assert httpx.get(s.url + "/api/health", timeout=60).json()["live"]["clients"] == 4
    finally:
        for c in clients:
            c.close()
        s.close()


def test_a_malformed_bus_message_is_skipped(tmp_path):
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    s = Server(settings_for(tmp_path, None, bus=f"tcp://127.0.0.1:{port}"))
    try:
        client = SseClient(s.url)
        good = plate_event(2, "京A00001", "gate")
        deadline = time.monotonic() + 120
        got = None
        while got is None and time.monotonic() < deadline:
            pub.send_multipart([b"plate.final.gate", b"{not json", b"x 1"])
            pub.send_multipart([b"plate.final.gate", json.dumps({"kind": "plate.final"}).encode(), b"x 2"])
            pub.send_multipart([b"junk"])
            pub.send_multipart([b"plate.final.gate", good.to_json().encode(), b"x 3"])
            try:
                got = client.next(timeout=0.5)
            except queue.Empty:
                pass
        assert got is not None and got["plate"] == "京A00001"
        skipped = httpx.get(s.url + "/api/health", timeout=60).json()["bus"]["skipped"]
        assert skipped >= 3
        client.close()
    finally:
        s.close()
        pub.close(linger=0)


def test_no_bus_is_a_clear_503(tmp_path):
    s = Server(settings_for(tmp_path, None, bus=None))
    try:
        r = httpx.get(s.url + "/api/live", timeout=60)
        assert r.status_code == 503 and "bus is off" in r.json()["detail"]
    finally:
        s.close()
