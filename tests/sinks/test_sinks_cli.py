"""`alprd query` and `alprd subscribe` end to end: real databases, a real bus, a real process."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from helpers_sinks import T0, make_event

from alprd.cli import main
from alprd.config import BusSinkConfig, SqlSinkConfig
from alprd.events import PlateEvent
from alprd.sinks import schema
from alprd.sinks.bus import BusSink
from alprd.sinks.db_url import make_engine
from alprd.sinks.sql import SqlSink

TRICKY = ["AB%1", "AB'1", "ABX1", "AB_1", "AB\\1", "AB[X]1", "ABCD1", "AB''1"]


@pytest.fixture
def stored(db, tmp_path):
    engine = make_engine(db.url)
    schema.upgrade(engine)
    sink = SqlSink(SqlSinkConfig(url=db.url, flush_interval_s=0.01), tmp_path / "spool", engine=engine)
    events = [make_event(p, "gate1" if i % 2 else "gate2", at=T0 + timedelta(minutes=i), track_id=i)
              for i, p in enumerate(TRICKY)]
    for ev in events:
        sink.publish(ev)
    assert sink.flush(timeout=120)
    sink.close()
    return db, events


def _query(capsys, url, *args) -> list[str]:
    assert main(["query", "--url", url, "--json", *args]) == 0
    return sorted(PlateEvent.from_json(line).plate for line in capsys.readouterr().out.splitlines())


PATTERNS = [
    ("AB%1", ["AB%1"]),
    ("AB'1", ["AB'1"]),
    ("AB''1", ["AB''1"]),
    ("AB%*", ["AB%1"]),
    ("AB_?", ["AB_1"]),
    ("AB\\*", ["AB\\1"]),
    ("*'*", ["AB'1", "AB''1"]),
    ("AB[X]*", ["AB[X]1"]),
    ("ab?1", ["AB%1", "AB'1", "ABX1", "AB\\1", "AB_1"]),
    ("%", []),
    ("' OR 1=1 --", []),
]


def test_query_plate_patterns_treat_sql_syntax_as_data(stored, capsys):
    db, _ = stored
    for pattern, expected in PATTERNS:
        assert (pattern, _query(capsys, db.url, "--plate", pattern)) == (pattern, sorted(expected))


def test_query_filters_and_formats(stored, capsys):
    db, events = stored
    assert _query(capsys, db.url, "--camera", "gate1") == sorted(TRICKY[1::2])
    since = (T0 + timedelta(minutes=2)).isoformat()
    until = (T0 + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _query(capsys, db.url, "--since", since, "--until", until) == sorted(TRICKY[2:5])
    assert _query(capsys, db.url, "--since", "1h") == []  # T0 is in the past
    assert len(_query(capsys, db.url, "--limit", "3")) == 3

    assert main(["query", "--url", db.url, "--csv", "--plate", "ABX1"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["plate"] for r in rows] == ["ABX1"]
    assert rows[0]["last_seen"] == "2026-03-01T12:02:00Z"  # UTC for machines

    assert main(["query", "--url", db.url, "--plate", "AB%1"]) == 0
    out = capsys.readouterr().out
    local = (T0 + timedelta(minutes=0)).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert "AB%1" in out and local in out and "1 event(s)" in out


def test_query_usage_errors(tmp_path, capsys):
    assert main(["query", "--url", f"sqlite:///{tmp_path}/none.db"]) == 1
    assert "no database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()
    assert main(["query", "--url", f"sqlite:///{tmp_path}/x.db", "--since", "last tuesday"]) == 2
    assert "not a time" in capsys.readouterr().err
    (tmp_path / "old.db").touch()  # a database without the schema
    assert main(["query", "--url", f"sqlite:///{tmp_path}/old.db"]) == 1
    assert "alprd db upgrade" in capsys.readouterr().err


def _run_subscribe(args: list[str], events: list[PlateEvent]) -> list[str]:
    """Start `alprd subscribe`, publish until it has printed what it waits for (slow joiner)."""
    sink = BusSink(BusSinkConfig(endpoint="tcp://127.0.0.1:*"))
    proc = subprocess.Popen([sys.executable, "-m", "alprd", "subscribe", "--endpoint", sink.endpoint,
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            for ev in events:
                sink.publish(ev)
            time.sleep(0.1)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        sink.close(linger_s=0)
    assert proc.returncode == 0, err
    return out.splitlines()


def test_subscribe_prints_json_events_of_the_topic():
    final, preview = make_event("ABC123", "gate1"), make_event("ABC12", "gate1", kind="plate.preview")
    lines = _run_subscribe(["--json", "--count", "2", "--topic", "plate.final."], [preview, final])
    assert [PlateEvent.from_json(line) for line in lines] == [final, final]


def test_subscribe_prints_one_human_line_per_event():
    lines = _run_subscribe(["--count", "1"], [make_event("皖A12345", "gate7", parked=True)])
    assert len(lines) == 1
    assert "皖A12345" in lines[0] and "gate7" in lines[0] and "final" in lines[0] and "parked" in lines[0]


def test_subscribe_reports_events_that_never_arrived():
    # a raw publisher speaking the bus's three-frame protocol, skipping one number each time
    import zmq

    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    proc = subprocess.Popen([sys.executable, "-m", "alprd", "subscribe", "--endpoint", f"tcp://127.0.0.1:{port}",
                             "--count", "3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ev = make_event("皖A12345", "gate1")
    try:
        n, deadline = 1, time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            pub.send_multipart([ev.topic.encode(), ev.to_json().encode(), b"abc %d" % n])
            n += 2
            time.sleep(0.1)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        pub.close()
    assert proc.returncode == 0, err
    assert len(out.splitlines()) == 3
    assert err.count("1 event(s) on plate.final.gate1 never arrived") == 2
    assert "2 event(s) missed in all" in err
