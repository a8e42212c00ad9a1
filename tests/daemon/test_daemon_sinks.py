"""JSONL and stdout sinks, the fan-out (a slow or failing sink never stalls the others), crops,
the per-camera track router, and build_sinks."""
from __future__ import annotations

import io
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from alprd.config import TrackingConfig, parse_config
from alprd.events import FrameResult, PlateEvent, PlateRead
from alprd.service.crops import CropStore
from alprd.sinks.factory import build_sinks, jsonl_path
from alprd.sinks.fanout import FanoutSink
from alprd.sinks.jsonl import JsonlSink
from alprd.sinks.stdout import StdoutSink, format_event
from alprd.track.router import TrackRouter
from waiting import wait_until

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def event(kind="plate.final", plate="粤LQ092V", track=1, camera="gate", **kw) -> PlateEvent:
    return PlateEvent(kind=kind, camera_id=camera, track_id=track, plate=plate, confidence=0.93,
                      first_seen=T0, last_seen=T0 + timedelta(seconds=4), reads=12, **kw)


class ListSink:
    name = "list"

    def __init__(self, delay=0.0, fail=False, gate_timeout=10.0):
        self.events, self.delay, self.fail = [], delay, fail
        self.flushed = self.closed = False
        self.gate = threading.Event()
        self.gate.set()
        self.gate_timeout = gate_timeout
        self.entered = threading.Event()  # publish() was called at least once

    def publish(self, e):
        self.entered.set()
        self.gate.wait(self.gate_timeout)
        if self.fail:
            raise OSError("disk on fire")
        time.sleep(self.delay)
        self.events.append(e)

    def flush(self, timeout=None):
        self.flushed = True

    def close(self):
        self.closed = True


def test_jsonl_sink_appends_one_json_line_per_event(tmp_path):
    path = tmp_path / "sub" / "events.jsonl"
    sink = JsonlSink(path)
    e1, e2 = event(), event(kind="plate.preview", track=2)
    sink.publish(e1)
    sink.publish(e2)
    sink.close()
    JsonlSink(path).close()  # reopening appends, never truncates
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [PlateEvent.from_json(x) for x in lines] == [e1, e2]
    assert "粤LQ092V" in lines[0]  # UTF-8, not \\u escapes


def test_stdout_sink_human_and_json():
    buf = io.StringIO()
    sink = StdoutSink(file=buf, color=False)
    sink.publish(event(crop_path="/var/crops/x.jpg", direction="left"))
    sink.publish(event(kind="plate.preview"))
    text = buf.getvalue().splitlines()
    assert "FINAL" in text[0] and "粤LQ092V" in text[0] and "gate#1" in text[0] and "/var/crops/x.jpg" in text[0]
    assert "preview" in text[1]
    buf = io.StringIO()
    StdoutSink(file=buf, as_json=True).publish(event())
    assert json.loads(buf.getvalue())["plate"] == "粤LQ092V"
    assert "[" not in format_event(event(plate="[bold]")).split("gate#1")[0][-1:]  # markup escaped


def test_fanout_a_slow_sink_does_not_stall_the_others_or_the_caller():
    slow, fast = ListSink(gate_timeout=3600), ListSink()
    slow.gate.clear()  # the slow sink hangs in its first publish() until released
    fan = FanoutSink([slow, fast])
    try:
        publisher = threading.Thread(target=lambda: [fan.publish(event(track=i)) for i in range(50)],
                                     daemon=True)
        publisher.start()
        publisher.join(60)  # a hang guard only
        # all 50 publish() calls returned, and the fast sink got every event, while the slow
        # sink still has not got past its first one
        assert not publisher.is_alive(), "publish() waited for the slow sink"
        assert wait_until(lambda: len(fast.events) == 50)
        assert slow.entered.wait(60) and slow.events == []
        assert fan.flush(timeout=0.2) is False  # the slow one is not done
    finally:
        slow.gate.set()
    assert fan.close(timeout=60) is True
    assert [e.track_id for e in slow.events] == list(range(50))
    assert slow.flushed and slow.closed and fast.closed


def test_fanout_keeps_a_failing_sink_receiving_and_counts(caplog):
    bad, good = ListSink(fail=True), ListSink()
    fan = FanoutSink([bad, good])
    for i in range(3):
        fan.publish(event(track=i))
    assert fan.close(timeout=120)
    assert len(good.events) == 3
    assert fan.stats["list"].failed == 3 and fan.stats["list#2"].published == 3
    assert sum("failed to publish" in r.getMessage() for r in caplog.records) == 1  # once per streak


def test_fanout_drops_the_oldest_when_a_sink_queue_is_full():
    stuck = ListSink()
    stuck.gate.clear()
    fan = FanoutSink([stuck], queue_size=5)
    for i in range(20):
        fan.publish(event(track=i))
    stuck.gate.set()
    fan.close(timeout=5)
    ids = [e.track_id for e in stuck.events]
    assert ids[-5:] == list(range(15, 20)) and len(ids) <= 6
    assert list(fan.stats.values())[0].dropped >= 14


def test_crops_go_to_dated_folders_and_disk_errors_keep_the_event(tmp_path, caplog):
    store = CropStore(tmp_path / "crops")
    e = store.attach(event(), b"\xff\xd8jpeg")
    assert e.crop_path and e.crop_path.endswith(".jpg")
    assert f"{tmp_path}/crops/2025-03-04/gate_1_" in e.crop_path
    assert open(e.crop_path, "rb").read() == b"\xff\xd8jpeg"
    assert store.attach(event(kind="plate.preview"), b"x").crop_path is None  # finals only

    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    bad = CropStore(blocked)
    e1 = bad.attach(event(), b"jpeg")
    e2 = bad.attach(event(), b"jpeg")
    assert e1.crop_path is None and e2.crop_path is None and bad.failed == 2
    assert sum("cannot save crops" in r.getMessage() for r in caplog.records) == 1


def test_crop_retention_removes_old_days_then_oldest_files(tmp_path):
    root = tmp_path / "crops"
    for day in ("2025-01-01", "2025-03-01", "2025-03-04"):
        (root / day).mkdir(parents=True)
        for i in range(3):
            (root / day / f"c_{i}.jpg").write_bytes(b"x" * 400_000)
    now = datetime(2025, 3, 4, 12, tzinfo=timezone.utc).timestamp()
    assert CropStore(root, retention_days=30).prune(now) == 3
    assert sorted(p.name for p in root.iterdir()) == ["2025-03-01", "2025-03-04"]
    CropStore(root, max_mb=1.0).prune(now)
    assert sum(p.stat().st_size for p in root.glob("*/*.jpg")) <= 1024 * 1024


def _frame(ts, *reads, camera="gate"):
    return FrameResult(camera, 0, ts, 1920, 1080, tuple(reads))


def _read(x, text="ABC123", crop=b"jpeg-bytes"):
    return PlateRead(((x, 500), (x + 100, 500), (x + 100, 530), (x, 530)), 0.9, text, (0.95,) * len(text), crop)


def test_router_flushes_every_open_track_as_a_final_with_its_crop(tmp_path):
    router = TrackRouter(["gate", "exit"], TrackingConfig(min_hits=2, max_unseen_s=5))
    store = CropStore(tmp_path)
    events = []
    for i in range(5):
        events += router.update(_frame(100 + i * 0.1, _read(100 + i * 5)))
        events += router.update(_frame(100 + i * 0.1, _read(900, "XYZ789"), camera="exit"))
    assert router.open_tracks == 2 and not [e for e in events if e.kind == "plate.final"]
    finals = [store.attach(e) for e in router.flush()]
    assert sorted((e.camera_id, e.plate, e.kind) for e in finals) == [
        ("exit", "XYZ789", "plate.final"), ("gate", "ABC123", "plate.final")]
    assert all(e.crop_path and open(e.crop_path, "rb").read() == b"jpeg-bytes" for e in finals)
    assert all(e.crop_jpeg is None for e in finals)  # sinks get the path, not the bytes
    assert router.open_tracks == 0 and router.flush() == []


def test_router_ends_tracks_of_a_camera_that_went_silent():
    router = TrackRouter(["gate"], TrackingConfig(min_hits=2, max_unseen_s=1.0))
    for i in range(3):
        router.update(_frame(50 + i * 0.1, _read(100)))
    assert router.expire("gate", 50.7) == [] and router.open_tracks_of("gate") == 1
    [final] = router.expire("gate", 51.5)  # 1.3 s of silence after the last frame
    assert final.kind == "plate.final" and final.plate == "ABC123" and router.open_tracks == 0


def test_build_sinks_honours_enabled_flags(tmp_path):
    cfg = parse_config({"cameras": [{"id": "c", "url": "x.mp4"}], "storage": {"state_dir": str(tmp_path)},
                        "sinks": {"sql": {"enabled": False}, "bus": {"enabled": False}}})
    sinks = build_sinks(cfg, stdout_file=io.StringIO())
    try:
        assert [s.name for s in sinks] == ["stdout", "jsonl"]
        assert jsonl_path(cfg) == tmp_path / "events.jsonl"
    finally:
        for s in sinks:
            s.close()
    cfg = parse_config({"cameras": [{"id": "c", "url": "x.mp4"}],
                        "sinks": {s: {"enabled": False} for s in ("stdout", "jsonl", "sql", "bus")}})
    assert build_sinks(cfg) == []


@pytest.mark.parametrize("section", ["sql", "bus"])
def test_build_sinks_wires_the_sql_and_bus_sinks_when_enabled(tmp_path, section):
    pytest.importorskip(f"alprd.sinks.{section}")
    sinks_cfg = {s: {"enabled": s == section} for s in ("stdout", "jsonl", "sql", "bus")}
    if section == "sql":
        sinks_cfg["sql"]["url"] = f"sqlite:///{tmp_path}/t.db"
    else:
        sinks_cfg["bus"]["endpoint"] = "tcp://127.0.0.1:0"
    cfg = parse_config({"cameras": [{"id": "c", "url": "x.mp4"}], "storage": {"state_dir": str(tmp_path)},
                        "sinks": sinks_cfg})
    [sink] = build_sinks(cfg)
    try:
        assert sink.name == section
    finally:
        sink.close()
