"""MQTT sink against a real mosquitto on loopback (tests/mqtt_broker.py): a broker restart loses no
QoS-1 event, Home Assistant discovery validates against the documented schema, availability
follows the daemon (LWT), the last plate is retained, and authentication works."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import jsonschema
import paho.mqtt.client as paho
import pytest
from helpers_sinks import make_event
from mqtt_broker import Mosquitto, find_mosquitto, missing_reason
from paho.mqtt.enums import CallbackAPIVersion
from waiting import wait_until

from alprd.config import ConfigError, MqttSinkConfig, parse_config
from alprd.derived_events import PlateMatch, derived_id
from alprd.sinks.ha_discovery import DISCOVERY_SCHEMA
from alprd.sinks.mqtt import MqttSink

ROOT = Path(__file__).resolve().parents[2]


class Subscriber:
    """A paho subscriber at QoS 1 recording (topic, payload, retain) in arrival order. With a
    client id and clean_session False its session (and the QoS-1 messages queued for it while
    it is away) lives in the broker, across a broker restart too (mosquitto's persistence)."""

    def __init__(self, port: int, topics: list[str], *, client_id: str = "", persistent: bool = False,
                 username: str | None = None, password: str | None = None) -> None:
        self.messages: list[tuple[str, str, bool]] = []
        self._lock = threading.Lock()
        self.subscribed = threading.Event()
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"t-{uuid.uuid4().hex[:8]}",
                             clean_session=not persistent)
        if username:
            self.c.username_pw_set(username, password)
        self.c.reconnect_delay_set(1, 1)

        def on_connect(client, userdata, flags, rc, props):
            if not rc.is_failure:
                client.subscribe([(t, 1) for t in topics])

        def on_subscribe(client, userdata, mid, rcs, props):
            self.subscribed.set()

        def on_message(client, userdata, msg):
            with self._lock:
                self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))

        self.c.on_connect, self.c.on_subscribe, self.c.on_message = on_connect, on_subscribe, on_message
        self.c.connect_async("127.0.0.1", port, keepalive=5)
        self.c.loop_start()
        assert self.subscribed.wait(120), "the test subscriber did not subscribe"

    def on(self, prefix: str) -> list[tuple[str, str, bool]]:
        with self._lock:
            return [m for m in self.messages if m[0].startswith(prefix)]

    def event_ids(self, prefix: str) -> list[str]:
        return [json.loads(p)["event_id"] for _, p, _ in self.on(prefix)]

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def cfg(port: int, **kw) -> MqttSinkConfig:
    return MqttSinkConfig(enabled=True, host="127.0.0.1", port=port, retry_max_s=1.0, **kw)


def test_a_broker_restart_mid_run_loses_no_qos1_event(tmp_path, mosquitto):
    sub = Subscriber(mosquitto.port, ["alprd/+/plate/#"], client_id="ledger", persistent=True)
    s = MqttSink(cfg(mosquitto.port), tmp_path / "spool", cameras=["north", "south"], fsync=False)
    sent = []

    def vehicles(n: int) -> None:
        for _ in range(n):
            i = len(sent)
            e = make_event(f"M{i:04d}", "north" if i % 2 else "south", track_id=i)
            s.publish(e)
            sent.append(e.event_id)

    try:
        assert wait_until(lambda: s.target.connected)
        vehicles(10)
        assert wait_until(lambda: len(set(sub.event_ids("alprd/"))) == 10)
        mosquitto.stop()  # the broker goes away with the sink publishing
        vehicles(10)
        assert wait_until(lambda: s.counters.retried >= 1 and not s.target.connected), s.metrics()
        assert s.metrics()["pending"] >= 10  # on disk, not acknowledged
        mosquitto.start()
        vehicles(10)
        assert wait_until(lambda: set(sub.event_ids("alprd/")) == set(sent)), (
            f"missing {len(set(sent) - set(sub.event_ids('alprd/')))} events")
        assert wait_until(lambda: s.metrics()["pending"] == 0), s.metrics()
    finally:
        s.close()
        sub.close()
    got = sub.event_ids("alprd/")
    # at least once (QoS 1); per camera the first copies come in the order they were published
    for cam in ("north", "south"):
        firsts = list(dict.fromkeys(json.loads(p)["event_id"] for _, p, _ in sub.on(f"alprd/{cam}/")))
        assert firsts == [i for k, i in enumerate(sent) if (k % 2 == 1) == (cam == "north")]
    assert len(got) >= len(sent)
    assert s.counters.delivered == len(sent)


def test_discovery_configs_are_retained_and_validate_against_the_documented_schema(tmp_path, mosquitto):
    c = cfg(mosquitto.port, homeassistant={"node_id": "testhost", "lists": ["residents"]})
    s = MqttSink(c, tmp_path / "spool", cameras=["gate1", "gate.2"], lists=["deny list"], fsync=False)
    try:
        assert wait_until(lambda: s.target.connected)
        s.flush(10)
        # the configs are at the broker once a subscriber got all six (live or retained)...
        first = Subscriber(mosquitto.port, ["homeassistant/#"])
        assert wait_until(lambda: len({t for t, _, _ in first.on("homeassistant/")}) == 6)
        first.close()
        # ...and a subscriber that joins later (Home Assistant starting) gets them retained
        sub = Subscriber(mosquitto.port, ["homeassistant/#", "alprd/status"])
        assert wait_until(lambda: len(sub.on("homeassistant/")) == 6 and sub.on("alprd/status"))
    finally:
        s.close()
    configs = {t: json.loads(p) for t, p, retained in sub.on("homeassistant/") if retained}
    assert len(configs) == 6  # 2 cameras x (last plate + 2 lists)
    for topic, payload in configs.items():
        jsonschema.validate(payload, DISCOVERY_SCHEMA)
        assert payload["availability_topic"] == "alprd/status"
    sensors = sorted(t for t in configs if "/sensor/" in t)
    assert sensors == ["homeassistant/sensor/testhost_gate1/last_plate/config",
                       "homeassistant/sensor/testhost_gate_2/last_plate/config"]
    lists = sorted(t.split("/")[3] for t in configs if "/binary_sensor/" in t)
    assert lists == ["match_deny_list", "match_deny_list", "match_residents", "match_residents"]
    devices = {p["device"]["identifiers"][0] for p in configs.values()}
    assert devices == {"alprd_testhost_gate1", "alprd_testhost_gate_2"}
    assert len({p["unique_id"] for p in configs.values()}) == 6
    assert sub.on("alprd/status")[0][1:] == ("online", True)
    assert wait_until(lambda: sub.on("alprd/status")[-1][1] == "offline")  # a clean stop says so
    sub.close()
    # the schema is not a rubber stamp
    bad = dict(configs["homeassistant/sensor/testhost_gate1/last_plate/config"])
    del bad["state_topic"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, DISCOVERY_SCHEMA)


_KILLED = textwrap.dedent("""
    import sys, time
    from alprd.config import MqttSinkConfig
    from alprd.sinks.mqtt import MqttSink
    s = MqttSink(MqttSinkConfig(enabled=True, host="127.0.0.1", port=int(sys.argv[1]), keepalive_s=5),
                 sys.argv[2], cameras=["gate1"])
    deadline = time.monotonic() + 120
    while not s.target.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    print("connected" if s.target.connected else "not connected", flush=True)
    time.sleep(3600)
""")


def test_availability_goes_offline_when_the_daemon_dies(tmp_path, mosquitto):
    sub = Subscriber(mosquitto.port, ["alprd/status"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(mosquitto.port), str(tmp_path / "spool")],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "connected"
        assert wait_until(lambda: [p for _, p, _ in sub.on("alprd/status")][-1:] == ["online"])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert wait_until(lambda: [p for _, p, _ in sub.on("alprd/status")][-1:] == ["offline"]), sub.messages
    sub.close()


def test_events_go_to_their_topics_and_the_last_plate_is_retained(tmp_path, mosquitto):
    s = MqttSink(cfg(mosquitto.port), tmp_path / "spool", cameras=["gate1"], fsync=False)
    first, last = make_event("OLD111", "gate1"), make_event("NEW222", "gate1", track_id=2)
    preview = make_event("NEW222", "gate1", kind="plate.preview", track_id=2)
    match = PlateMatch(camera_id="gate1", track_id=2, read="NEW222", list_name="residents", list_kind="allow",
                       entry_plate="NEW222", entry_label="flat 4", distance=0.0, source_kind="plate.final",
                       source_event_id=last.event_id, seen_at=last.last_seen,
                       event_id=derived_id("plate.match", last.event_id, "residents"))
    try:
        live = Subscriber(mosquitto.port, ["alprd/#"])
        for e in (first, preview, last, match):
            s.publish(e)
        assert wait_until(lambda: len(live.on("alprd/gate1/")) == 7), live.messages
        assert s.flush(10)
        later = Subscriber(mosquitto.port, ["alprd/gate1/last_plate"])  # joins afterwards
        assert wait_until(lambda: later.on("alprd/gate1/last_plate"))
    finally:
        s.close()
    topics = [t for t, _, _ in live.on("alprd/gate1/")]
    assert topics == ["alprd/gate1/plate/final", "alprd/gate1/last_plate", "alprd/gate1/plate/preview",
                      "alprd/gate1/plate/final", "alprd/gate1/last_plate", "alprd/gate1/plate/match",
                      "alprd/gate1/match/residents"]
    retained = later.on("alprd/gate1/last_plate")
    assert len(retained) == 1 and retained[0][2] and json.loads(retained[0][1])["plate"] == "NEW222"
    assert json.loads(live.on("alprd/gate1/match/residents")[0][1])["list_name"] == "residents"
    live.close()
    later.close()


@pytest.fixture
def broker_with_users():
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    broker = Mosquitto(find_mosquitto(), users={"alprd": "right-password"})
    try:
        broker.start()
        yield broker
    finally:
        broker.cleanup()


def test_username_and_password_from_the_environment(tmp_path, broker_with_users, monkeypatch):
    port = broker_with_users.port
    monkeypatch.setenv("T_MQTT_PW", "wrong-password")
    s = MqttSink(cfg(port, username="alprd", password_env="T_MQTT_PW"), tmp_path / "spool",
                 cameras=["gate1"], fsync=False)
    try:
        e = make_event("AUTH11")
        s.publish(e)
        assert wait_until(lambda: s.counters.retried >= 2)
        assert not s.target.connected and s.metrics()["pending"] == 1  # refused: kept, not lost
    finally:
        s.close()
    monkeypatch.setenv("T_MQTT_PW", "right-password")
    sub = Subscriber(port, ["alprd/#"], username="alprd", password="right-password")
    s = MqttSink(cfg(port, username="alprd", password_env="T_MQTT_PW"), tmp_path / "spool",
                 cameras=["gate1"], fsync=False)
    try:
        assert wait_until(lambda: e.event_id in sub.event_ids("alprd/gate1/plate/"))  # the spooled one
    finally:
        s.close()
        sub.close()


def test_mqtt_config_validation():
    base = {"cameras": [{"id": "a", "url": "x"}]}
    for mqtt, expected in (({"enabled": True, "password_env": "X"}, "needs a username"),
                           ({"enabled": True, "topic_prefix": "a/#"}, "topic_prefix"),
                           ({"enabled": True, "port": 0}, "sinks.mqtt.port"),
                           ({"enabled": True, "homeassistant": {"node_id": "a b"}}, "node_id")):
        with pytest.raises(ConfigError, match=expected):
            parse_config({**base, "sinks": {"mqtt": mqtt}})


_PUBLISH_THEN_DIE = textwrap.dedent("""
    import sys, time
    sys.path[:0] = [sys.argv[3], sys.argv[3] + "/.."]
    from helpers_sinks import make_event
    from alprd.config import MqttSinkConfig
    from alprd.sinks.mqtt import MqttSink
    s = MqttSink(MqttSinkConfig(enabled=True, host="127.0.0.1", port=int(sys.argv[1]), retry_max_s=1),
                 sys.argv[2], cameras=["gate1"])
    for i in range(10):
        s.publish(make_event(f"D{i:04d}", "gate1", track_id=i))
    deadline = time.monotonic() + 120
    while s.counters.retried < 2 and time.monotonic() < deadline:  # tried and failed, twice
        time.sleep(0.05)
    print("published", flush=True)
    time.sleep(3600)
""")


def test_kill_9_with_unacknowledged_messages_then_restart_loses_nothing(tmp_path, mosquitto):
    mosquitto.stop()  # nothing the first process publishes can be acknowledged
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _PUBLISH_THEN_DIE, str(mosquitto.port),
                             str(tmp_path / "spool"), str(Path(__file__).parent)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "published"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    mosquitto.start()
    sub = Subscriber(mosquitto.port, ["alprd/gate1/plate/final"])
    s = MqttSink(cfg(mosquitto.port), tmp_path / "spool", cameras=["gate1"], fsync=False)
    try:
        assert s.metrics()["pending"] == 10
        assert wait_until(lambda: len(set(sub.event_ids("alprd/"))) == 10)
        assert wait_until(lambda: s.metrics()["pending"] == 0)
    finally:
        s.close()
        sub.close()
    plates = [json.loads(p)["plate"] for _, p, _ in sub.on("alprd/")]
    assert list(dict.fromkeys(plates)) == [f"D{i:04d}" for i in range(10)]


def test_plate_lists_in_sql_become_binary_sensors_and_follow_changes(tmp_path, mosquitto, monkeypatch):
    from alprd.parking import lists as plate_lists
    from alprd.sinks import mqtt as mqtt_mod
    from alprd.sinks import schema
    from alprd.sinks.db_url import make_engine
    from alprd.sinks.factory import build_sinks

    monkeypatch.setattr(mqtt_mod, "LISTS_REFRESH_S", 0.2)
    db = f"sqlite:///{tmp_path / 'events.db'}"
    engine = make_engine(db)
    schema.prepare_database(engine)  # an empty SQLite database gets the schema
    plate_lists.create_list(engine, "residents", "allow")
    plate_lists.create_list(engine, "barred", "deny", cameras=["exit"])  # one camera only
    app = parse_config({"cameras": [{"id": "entry", "url": "x"}, {"id": "exit", "url": "y"}],
                        "storage": {"state_dir": str(tmp_path / "state")},
                        "sinks": {"stdout": {"enabled": False}, "jsonl": {"enabled": False},
                                  "bus": {"enabled": False}, "sql": {"url": db},
                                  "mqtt": {"enabled": True, "port": mosquitto.port,
                                           "homeassistant": {"node_id": "lot"}}}})
    sinks = build_sinks(app)
    sub = Subscriber(mosquitto.port, ["homeassistant/binary_sensor/#"])
    try:
        def configs():
            now = {}
            for t, p, _ in sub.on("homeassistant/"):
                now[t] = p  # the latest payload per topic; "" = removed
            return {t.split("/")[2] + "/" + t.split("/")[3] for t, p in now.items() if p}

        assert wait_until(lambda: configs() == {"lot_entry/match_residents", "lot_exit/match_residents",
                                                "lot_exit/match_barred"}), configs()
        plate_lists.create_list(engine, "visitors", "watch")
        plate_lists.delete_list(engine, "barred")
        assert wait_until(lambda: configs() == {"lot_entry/match_residents", "lot_exit/match_residents",
                                                "lot_entry/match_visitors", "lot_exit/match_visitors"}), configs()
    finally:
        for s in sinks:
            s.close()
        sub.close()
        engine.dispose()


def test_the_documented_discovery_payload_is_what_the_sink_publishes():
    from alprd.sinks.ha_discovery import discovery_messages

    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    block = text.split("A sensor's config, as published:", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    documented = json.loads(block)
    jsonschema.validate(documented, DISCOVERY_SCHEMA)
    (topic, published), = [m for m in discovery_messages(
        discovery_prefix="homeassistant", topic_prefix="alprd", node="carpark", cameras=["gate1"],
        version="0.1.0") if "/sensor/" in m[0]]
    assert published == documented
    assert topic == "homeassistant/sensor/carpark_gate1/last_plate/config"


@pytest.fixture
def tls_broker(tmp_path):
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    from mqtt_broker import make_tls_files

    files = make_tls_files(tmp_path / "tls")
    broker = Mosquitto(find_mosquitto(), tls=files)
    try:
        broker.start()
        yield broker, files[0]
    finally:
        broker.cleanup()


def test_tls_to_a_broker_with_a_private_ca(tmp_path, tls_broker):
    broker, ca = tls_broker
    # without the CA the broker's certificate is not trusted: nothing is sent, nothing lost
    s = MqttSink(cfg(broker.port, tls={"enabled": True}), tmp_path / "spool", cameras=["gate1"], fsync=False)
    try:
        e = make_event("TLS111")
        s.publish(e)
        assert wait_until(lambda: s.counters.retried >= 2)
        assert not s.target.connected and s.metrics()["pending"] == 1
    finally:
        s.close()
    got: list[str] = []
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="tls-sub")
    sub.tls_set(ca_certs=str(ca))
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe("alprd/#", 1)
    sub.on_message = lambda c, u, m: got.append(json.loads(m.payload)["event_id"]) if m.topic.endswith(
        "plate/final") else None
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect("127.0.0.1", broker.port)
    sub.loop_start()
    assert subscribed.wait(120)
    s = MqttSink(cfg(broker.port, tls={"enabled": True, "ca_file": str(ca)}), tmp_path / "spool",
                 cameras=["gate1"], fsync=False)
    try:
        assert wait_until(lambda: e.event_id in got)  # the spooled event, over TLS
        assert s.target.connected
    finally:
        s.close()
        sub.disconnect()
        sub.loop_stop()
