"""Chaos for the delivery sinks with the real daemon: a webhook receiver down while 10 vehicles
pass and an MQTT broker restarted meanwhile, then a kill -9 with deliveries pending.

The streams are burst videos (tests/chaos/bursts.py: one vehicle per burst) read by the rigged
weights; the bus subscriber (connected before the daemon starts) is the reference for what the
daemon published. The receiver is tests/sinks/http_receiver.py (a real HTTP server on loopback
that checks signatures with the documented example receiver), the broker a real mosquitto.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import yaml
from bursts import burst_schedule, make_burst_video
from chaos_helpers import DaemonProcess, Subscriber, chaos_config, free_port, run_alprd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sinks"))

from http_receiver import Receiver  # noqa: E402
from test_sinks_mqtt import Subscriber as MqttSubscriber  # noqa: E402
from waiting import wait_until  # noqa: E402

SECRET = "chaos-hook-secret"


def _config(tmp_path: Path, weights: Path, bursts: int, *, hook_url: str, mqtt_port: int | None = None):
    cams = []
    for cam, offset in (("north", 0.5), ("south", 2.2)):
        # gaps of 2.5 s on the stream's clock: longer than tracking.max_unseen_s (1.5), so each burst
        # is its own vehicle whatever the machine's load (the tracker splits on stream time)
        video = make_burst_video(tmp_path / f"{cam}.mp4", burst_schedule(bursts, first_s=offset, gap_s=2.5))
        cams.append({"id": cam, "url": str(video)})
    port = free_port()
    state = tmp_path / "state"
    path = chaos_config(tmp_path / "alprd.yaml", cams, state_dir=state, weights=weights, bus_port=port,
                        sql_url=f"sqlite:///{tmp_path / 'events.db'}", tracking={"max_unseen_s": 1.5})
    cfg = yaml.safe_load(path.read_text())
    cfg["sinks"]["webhooks"] = [{"name": "gate", "url": hook_url, "secret_env": "CHAOS_HOOK_SECRET",
                                 "retry_max_s": 1.0}]
    if mqtt_port is not None:
        cfg["sinks"]["mqtt"] = {"enabled": True, "host": "127.0.0.1", "port": mqtt_port, "retry_max_s": 1.0,
                                "homeassistant": {"node_id": "chaos"}}
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path, port, state


def test_receiver_down_and_broker_restarted_while_10_vehicles_pass(tmp_path, chaos_weights, mosquitto):
    recv = Receiver(SECRET.encode())  # down until 10 vehicles have passed; 4 more pass after
    cfg, port, state = _config(tmp_path, chaos_weights, 7, hook_url=recv.url, mqtt_port=mosquitto.port)
    sub = Subscriber(f"tcp://127.0.0.1:{port}")
    ledger = MqttSubscriber(mosquitto.port, ["alprd/+/plate/#"], client_id="chaos-ledger", persistent=True)
    d = DaemonProcess(cfg, tmp_path, extra_env={"CHAOS_HOOK_SECRET": SECRET})
    try:
        d.wait_for(lambda: len(sub.finals()) >= 3, 120, "three vehicles")
        mosquitto.stop()  # the broker restarts mid-run
        d.wait_for(lambda: len(sub.finals()) >= 6, 120, "three more vehicles with the broker away")
        mosquitto.start()
        d.wait_for(lambda: len(sub.finals()) >= 10, 120, "10 vehicles with the receiver down")
        recv.start()
        assert d.wait(180) == 0, d.stderr[-3000:]  # it stops once its files have ended
        res = run_alprd("status", "-c", str(cfg), "--json", cwd=tmp_path)  # the final figures
        s = json.loads(res.stdout)["sinks"]
        published = sub.events()
        assert wait_until(lambda: set(ledger.event_ids("alprd/")) >= {e["event_id"] for e in published}), (
            "events missing at the MQTT subscriber")
    finally:
        d.close()
        sub.close()
        ledger.close()
        recv.stop()
    assert len([e for e in published if e["kind"] == "plate.final"]) == 14
    got = Counter(r.event_id for r in recv.requests if r.verified)
    assert set(got) == {e["event_id"] for e in published} and set(got.values()) == {1}, got
    for cam in ("north", "south"):  # in the order the daemon published them, per camera
        assert ([e["event_id"] for e in recv.events() if e["camera_id"] == cam]
                == [e["event_id"] for e in published if e["camera_id"] == cam])
    hook, mqtt = s["webhook:gate"], s["mqtt"]
    assert (hook["delivered"], hook["pending"], hook["given_up"]) == (len(published), 0, 0), hook
    assert hook["retried"] >= 1 and mqtt["retried"] >= 1
    assert (mqtt["delivered"], mqtt["pending"], mqtt["given_up"]) == (len(published), 0, 0), mqtt
    assert "Traceback" not in d.stderr


def test_kill_9_with_deliveries_pending_then_restart_loses_nothing(tmp_path, chaos_weights):
    recv = Receiver(SECRET.encode())  # down for the whole first run
    cfg, port, state = _config(tmp_path, chaos_weights, 3, hook_url=recv.url)
    sub = Subscriber(f"tcp://127.0.0.1:{port}")
    run1 = run2 = None
    try:
        run1 = DaemonProcess(cfg, tmp_path, extra_env={"CHAOS_HOOK_SECRET": SECRET})
        run1.wait_for(lambda: len(sub.finals()) >= 4, 120, "four vehicles")
        run1.kill()  # SIGKILL to the daemon and its children
        before = sub.events()
        recv.start()
        run2 = DaemonProcess(cfg, tmp_path, extra_env={"CHAOS_HOOK_SECRET": SECRET})
        run2.wait_for(lambda: {e["event_id"] for e in recv.events()} >= {e["event_id"] for e in before},
                      120, "every event of the killed run at the receiver")
        assert run2.wait(180) == 0, run2.stderr[-3000:]  # it stops once its files have ended
    finally:
        for r in (run1, run2):
            if r is not None:
                r.close()
        sub.close()
        recv.stop()
    assert len(sub.finals()) >= len([e for e in before if e["kind"] == "plate.final"]) + 6
    got = Counter(r.event_id for r in recv.requests if r.verified)
    assert set(got) == {e["event_id"] for e in sub.events()}  # both runs' events, nothing else
    assert set(got.values()) == {1}, got  # none twice: the first run delivered nothing
