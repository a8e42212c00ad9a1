"""A slow webhook target (its first request held until the test is done) delays neither the bus
nor SQL, nor another target:
the sinks are built from a config by the daemon's factory and fed through its fan-out, and the
test compares what each had received at one moment (event order), never how long anything took."""
from __future__ import annotations

import json
import threading

import sqlalchemy as sa
import zmq
from helpers_sinks import make_event
from http_receiver import Receiver
from waiting import wait_until

from alprd.config import parse_config
from alprd.sinks import schema
from alprd.sinks.factory import build_sinks
from alprd.sinks.fanout import FanoutSink
from alprd.sinks.spool import Spool
from benchmarks.ports import free_port

SECRET = "slow-secret"
N = 20


def test_a_slow_target_delays_neither_the_bus_nor_sql_nor_another_target(tmp_path, monkeypatch):
    monkeypatch.setenv("T_HOOK_SECRET", SECRET)
    release = threading.Event()  # the slow target answers nothing until the checks are done
    slow = Receiver(SECRET.encode(), hold=release).start()
    quick = Receiver(SECRET.encode()).start()
    port = free_port()
    db = tmp_path / "events.db"
    cfg = parse_config({
        "cameras": [{"id": "gate1", "url": "x"}],
        "storage": {"state_dir": str(tmp_path / "state")},
        "sinks": {"stdout": {"enabled": False}, "jsonl": {"enabled": False},
                  "sql": {"url": f"sqlite:///{db}", "flush_interval_s": 0.05},
                  "bus": {"endpoint": f"tcp://127.0.0.1:{port}"},
                  "webhooks": [{"name": "slow", "url": slow.url, "secret_env": "T_HOOK_SECRET"},
                               {"name": "quick", "url": quick.url, "secret_env": "T_HOOK_SECRET"}]}})
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.connect(f"tcp://127.0.0.1:{port}")
    sub.setsockopt_string(zmq.SUBSCRIBE, "")
    bus: list[str] = []
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            if sub.poll(100):
                bus.append(json.loads(sub.recv_multipart()[1])["event_id"])

    out = FanoutSink(build_sinks(cfg))
    names = [s.name for s in out.sinks]
    assert names == ["sql", "bus", "webhook:slow", "webhook:quick"]
    t = threading.Thread(target=listen, daemon=True)
    t.start()
    engine = sa.create_engine(f"sqlite:///{db}")

    def in_sql() -> int:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(schema.plate_events)).scalar()

    try:
        bus_sink = next(s for s in out.sinks if s.name == "bus")
        assert wait_until(lambda: bus_sink.subscriptions >= 1)  # served before the first send
        events = [make_event(f"S{i:04d}", track_id=i) for i in range(N)]
        for e in events:
            out.publish(e)
        # everyone else has every event ...
        assert wait_until(lambda: len(bus) == N and in_sql() == N and len(quick.events()) == N)
        # ... while the slow target has answered nothing: it holds its first request
        assert wait_until(lambda: slow.started >= 1)  # it was being served all along
        assert slow.requests == []
        # the receiver records a request before it answers, and the sink counts it delivered only
        # once the answer is in: wait for the quick target's count, not for the receiver's
        assert wait_until(lambda: out.status()["webhook:quick"]["delivered"] == N)
        status = out.status()
        assert status["webhook:slow"]["pending"] == N, status["webhook:slow"]
        assert status["webhook:quick"]["pending"] == 0 and status["webhook:quick"]["delivered"] == N
        assert bus == [e.event_id for e in events]  # the bus in publish order
    finally:
        release.set()
        stop.set()
        t.join(5)
        out.close(timeout=5)
        sub.close(0)
        ctx.term()
        engine.dispose()
        slow.stop()
        quick.stop()
    # what the slow target had not taken (by the stop) stays spooled for it: the next start delivers it
    spool = Spool(tmp_path / "state" / "spool" / "webhook-slow", fsync=False)
    leftover, _ = spool.read(spool.acked, 1000)
    spool.close()
    left = {json.loads(r)["event"]["event_id"] for r in leftover}
    assert left | {e["event_id"] for e in slow.events()} == {e.event_id for e in events}
