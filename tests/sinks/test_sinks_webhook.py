"""Webhook sink against a real HTTP server on loopback (tests/sinks/http_receiver.py): outages,
order, signatures, refusals, give-up, crops, and a kill -9 with deliveries pending."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers_sinks import make_event
from http_receiver import Receiver, example_receiver
from waiting import wait_until

from alprd.config import ConfigError, WebhookTargetConfig, parse_config
from alprd.sinks import signing
from alprd.sinks.webhook import WebhookSink, mask_url

SECRET = b"s3cret-for-tests"
ROOT = Path(__file__).resolve().parents[2]


def target(url: str, **kw) -> WebhookTargetConfig:
    return WebhookTargetConfig(name="gate", url=url, secret_env="UNUSED", **{"retry_max_s": 0.3, **kw})


def sink(tmp_path, url: str, **kw) -> WebhookSink:
    return WebhookSink(target(url, **kw), tmp_path / "spool", secret=SECRET, fsync=False)


def ten_vehicles() -> list:
    """10 finals (and their previews) from two cameras, in publish order."""
    out = []
    for i in range(10):
        cam = "north" if i % 2 else "south"
        out.append(make_event(f"AB{i:03d}", cam, kind="plate.preview", track_id=i))
        out.append(make_event(f"AB{i:03d}", cam, track_id=i))
    return out


def test_receiver_down_then_back_gets_every_event_once_in_order_per_camera(tmp_path):
    recv = Receiver(SECRET)  # its port is chosen but nothing listens yet: connection refused
    s = sink(tmp_path, recv.url)
    try:
        events = ten_vehicles()
        for e in events:
            s.publish(e)
        # down for a while: the head event was tried and refused several times
        assert wait_until(lambda: s.counters.retried >= 4), s.metrics()
        assert s.counters.delivered == 0 and s.metrics()["pending"] == len(events)
        assert s.available is False
        recv.start()
        got = recv.wait_for(len(events))
        assert wait_until(lambda: s.metrics()["pending"] == 0), s.metrics()
    finally:
        s.close()
        recv.stop()
    every = Counter(r.event_id for r in recv.requests)  # verified or not
    assert set(every) == {e.event_id for e in events} and set(every.values()) == {1}
    for cam in ("north", "south"):
        sent = [e.event_id for e in events if e.camera_id == cam]
        assert [e["event_id"] for e in got if e["camera_id"] == cam] == sent
    for r in recv.requests:
        assert r.verified
        assert r.headers["Idempotency-Key"] == r.headers["X-Alprd-Event-Id"] == r.event_id
        assert r.headers["X-Alprd-Event-Kind"] == r.event["kind"]
    assert int(recv.requests[0].headers["X-Alprd-Attempt"]) > 1  # the first was retried
    m = s.metrics()
    assert (m["delivered"], m["given_up"], m["refused"], m["pending"]) == (len(events), 0, 0, 0)
    assert m["retried"] >= 4


def test_a_wrong_signature_is_detected_by_the_receiver_and_nothing_is_lost(tmp_path):
    recv = Receiver(b"another-secret").start()  # the receiver was given the wrong secret
    s = sink(tmp_path, recv.url)
    try:
        e = make_event()
        s.publish(e)
        assert wait_until(lambda: len(recv.requests) >= 2)
        assert not any(r.verified for r in recv.requests)  # 401: retried, not delivered
        assert s.counters.delivered == 0
        recv.secret = SECRET  # the operator fixes the receiver's secret
        assert recv.wait_for(1)[0]["event_id"] == e.event_id
    finally:
        s.close()
        recv.stop()
    verify = example_receiver().verify
    good = recv.requests[-1]
    ts, sig = good.headers["X-Alprd-Timestamp"], good.headers["X-Alprd-Signature"]
    assert verify(SECRET, good.body, ts, sig)
    assert not verify(SECRET, good.body.replace(b"ABC123", b"ABC124"), ts, sig)  # tampered body
    assert not verify(SECRET, good.body, str(int(ts) + 1), sig)  # timestamp moved
    assert not verify(b"wrong", good.body, ts, sig)
    # a captured request replayed later than the tolerance is refused
    assert not verify(SECRET, good.body, ts, sig, now=int(ts) + 301)
    # the library's own check agrees with the example receiver's
    assert signing.verify(SECRET, good.body, ts, sig)
    assert not signing.verify(SECRET, good.body, ts, sig, now=int(ts) + 301)


def test_a_refused_payload_is_set_aside_and_the_queue_moves_on(tmp_path):
    recv = Receiver(SECRET, status=422).start()
    s = sink(tmp_path, recv.url)
    try:
        for e in (make_event("AAA111"), make_event("BBB222")):
            s.publish(e)
        assert wait_until(lambda: s.counters.refused == 2), s.metrics()
        recv.status = 200
        e3 = make_event("CCC333")
        s.publish(e3)
        assert wait_until(lambda: s.counters.delivered == 1)
    finally:
        s.close()
        recv.stop()
    rejected = [json.loads(line) for line in (tmp_path / "spool" / "rejected.jsonl").read_text().splitlines()]
    assert [json.loads(r["record"])["event"]["plate"] for r in rejected] == ["AAA111", "BBB222"]
    assert all("HTTP 422" in r["error"] for r in rejected)


def test_a_delivery_failing_longer_than_give_up_after_s_is_given_up_counted_and_kept(tmp_path, caplog):
    recv = Receiver(SECRET)  # never started
    s = sink(tmp_path, recv.url, give_up_after_s=1.0)
    try:
        s.publish(make_event("OLD111"))
        s.publish(make_event("OLD222"))
        assert wait_until(lambda: s.counters.given_up == 2), s.metrics()
        m = s.metrics()
        assert m["pending"] == 0 and m["delivered"] == 0 and m["retried"] >= 2
    finally:
        s.close()
    kept = (tmp_path / "spool" / "rejected.jsonl").read_text()
    assert "OLD111" in kept and "OLD222" in kept and "of failed deliveries" in kept
    assert "gave up on event" in caplog.text


def test_the_plate_crop_is_attached_when_asked(tmp_path):
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg-bytes\xff\xd9"
    crop = tmp_path / "state" / "crops" / "c.jpg"
    crop.parent.mkdir(parents=True)
    crop.write_bytes(jpeg)
    recv = Receiver(SECRET).start()
    s = WebhookSink(target(recv.url, attach_crop=True), tmp_path / "spool", secret=SECRET, fsync=False,
                    crop_roots=[tmp_path / "state"])
    try:
        s.publish(make_event("CROP11", crop_path="crops/c.jpg"))  # relative to the state dir
        s.publish(make_event("NOCROP", crop_path=None))
        got = recv.wait_for(2)
    finally:
        s.close()
        recv.stop()
    assert base64.b64decode(got[0]["crop_jpeg"]) == jpeg
    assert "crop_jpeg" not in got[1]


def test_filters_by_kind_and_camera(tmp_path):
    recv = Receiver(SECRET).start()
    s = sink(tmp_path, recv.url, kinds=["plate.final"], cameras=["north"])
    try:
        for e in ten_vehicles():
            s.publish(e)
        s.flush(10)
    finally:
        s.close()
        recv.stop()
    got = recv.events()
    assert [e["plate"] for e in got] == [f"AB{i:03d}" for i in range(1, 10, 2)]
    assert {e["kind"] for e in got} == {"plate.final"}


_PUBLISHER = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [sys.argv[3], sys.argv[3] + "/.."]
    from helpers_sinks import make_event
    from alprd.config import WebhookTargetConfig
    from alprd.sinks.webhook import WebhookSink
    cfg = WebhookTargetConfig(name="gate", url=sys.argv[1], secret_env="X", retry_max_s=0.3)
    s = WebhookSink(cfg, sys.argv[2], secret=b"s3cret-for-tests")
    for i in range(10):
        s.publish(make_event(f"K{i:05d}", "north" if i % 2 else "south", track_id=i))
    print("published", flush=True)
    time.sleep(3600)
""")


def test_kill_9_with_deliveries_pending_then_restart_loses_nothing(tmp_path):
    recv = Receiver(SECRET)  # down while the first process runs
    spool = tmp_path / "spool"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _PUBLISHER, recv.url, str(spool), str(Path(__file__).parent)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "published"
        time.sleep(0.5)  # a few failed tries
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    s = sink(tmp_path, recv.url)  # the restarted daemon's sink on the same spool, receiver still down
    try:
        assert s.metrics()["pending"] == 10
        recv.start()
        got = recv.wait_for(10)
        assert wait_until(lambda: s.metrics()["pending"] == 0)
    finally:
        s.close()
        recv.stop()
    plates = [e["plate"] for e in got]
    assert sorted(plates) == [f"K{i:05d}" for i in range(10)] and len(set(plates)) == 10
    for cam in ("north", "south"):
        assert [e["plate"] for e in got if e["camera_id"] == cam] == sorted(
            p for p in plates if int(p[1:]) % 2 == (cam == "north"))


def test_config_validation_names_the_key(tmp_path):
    base = {"cameras": [{"id": "a", "url": "x"}]}
    cases = [
        ({"name": "g", "url": "ftp://host/x", "secret_env": "S"}, "sinks.webhooks.0.url"),
        ({"name": "g", "url": "http://host/x"}, "secret_env and secret_file"),
        ({"name": "g", "url": "http://host/x", "secret_env": "S", "headers": {"X-Alprd-Signature": "x"}},
         "set by alprd"),
        ({"name": "g", "url": "http://host/x", "secret_env": "S", "kinds": ["final"]}, "not an event kind"),
        ({"name": "g", "url": "http://host/x", "secret_env": "S", "give_up_after_s": 0}, "give_up_after_s"),
        ({"name": "g", "url": "http://host/x", "secret_env": "S", "kinds": ["plate.finall"]}, "plate.finall"),
        ({"name": "g", "url": "http://host/x", "secret_env": "S", "cameras": ["b"]},
         "sinks.webhooks.0.cameras: no camera with id b"),
    ]
    for target_cfg, expected in cases:
        with pytest.raises(ConfigError, match=expected):
            parse_config({**base, "sinks": {"webhooks": [target_cfg]}})
    two = {"name": "g", "url": "http://host/x", "secret_env": "S"}
    with pytest.raises(ConfigError, match="repeated: g"):
        parse_config({**base, "sinks": {"webhooks": [two, two]}})


def test_a_missing_secret_is_one_line_at_start(tmp_path, monkeypatch):
    from alprd.sinks.factory import SinkStartError, build_sinks

    monkeypatch.delenv("NO_SUCH_SECRET_VAR", raising=False)
    cfg = parse_config({"cameras": [{"id": "a", "url": "x"}], "storage": {"state_dir": str(tmp_path)},
                        "sinks": {"stdout": {"enabled": False}, "jsonl": {"enabled": False},
                                  "sql": {"enabled": False}, "bus": {"enabled": False},
                                  "webhooks": [{"name": "g", "url": "http://127.0.0.1:9/x",
                                                "secret_env": "NO_SUCH_SECRET_VAR"}]}})
    with pytest.raises(SinkStartError) as err:
        build_sinks(cfg)
    assert str(err.value) == "sinks.webhooks.0 (g): environment variable NO_SUCH_SECRET_VAR is not set"
    monkeypatch.setenv("NO_SUCH_SECRET_VAR", "x")
    sinks = build_sinks(cfg)
    try:
        assert [s.name for s in sinks] == ["webhook:g"]
        assert sinks[0].durable_sink.spool.dir == tmp_path / "spool" / "webhook-g"
    finally:
        for s in sinks:
            s.close()


def test_logs_show_the_url_without_credentials_or_query():
    assert mask_url("https://user:pw@example.org:8443/hook?token=abc") == "https://example.org:8443/hook"


def test_check_config_names_the_delivery_sinks_without_credentials(tmp_path, capsys):
    from alprd.cli import main

    cfg = tmp_path / "alprd.yaml"
    cfg.write_text("cameras: [{id: a, url: 'rtsp://cam/1'}]\n"
                   "sinks:\n"
                   "  sql: {enabled: false}\n"
                   "  webhooks: [{name: gate, url: 'https://u:pw@example.org/hook?token=zz', secret_env: X}]\n"
                   "  mqtt: {enabled: true, port: 8883, tls: {enabled: true}}\n")
    assert main(["check-config", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "webhook gate https://example.org/hook" in out and "mqtt mqtts://127.0.0.1:8883" in out
    assert "pw" not in out and "token" not in out
