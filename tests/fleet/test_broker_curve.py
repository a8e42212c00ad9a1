"""`alprd broker` with CurveZMQ on both sides, on loopback: a daemon's encrypted bus (a real BusSink
that admits only the broker's certificate), the broker (in-process: the same Broker the command
runs) relaying to encrypted subscribers it admits. A subscriber without the broker's key, or with a
certificate the broker does not know, gets nothing."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import zmq
import zmq.auth

from alprd.config import BusSinkConfig
from alprd.fleet.broker import Broker, BrokerError, Curve
from alprd.sinks.bus import BusSink

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sinks"))
from helpers_sinks import make_event  # noqa: E402

DEADLINE_S = 120.0


def _certs(root: Path, name: str) -> tuple[Path, Path]:
    d = root / name
    d.mkdir()
    public, secret = zmq.auth.create_certificates(d, name)
    return Path(public), Path(secret)


def _sub(endpoint: str, server_public: Path | None, client_secret: Path | None):
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    if server_public is not None:
        sock.curve_serverkey = zmq.auth.load_certificate(server_public)[0]
        if client_secret is not None:
            sock.curve_publickey, sock.curve_secretkey = zmq.auth.load_certificate(client_secret)
        else:
            sock.curve_publickey, sock.curve_secretkey = zmq.curve_keypair()
    sock.setsockopt(zmq.SUBSCRIBE, b"plate.")
    sock.connect(endpoint)
    return sock


def test_curve_on_both_sides_admits_known_subscribers_only(tmp_path):
    daemon_pub, daemon_sec = _certs(tmp_path, "daemon")
    broker_pub, broker_sec = _certs(tmp_path, "broker")
    _, sub_sec = _certs(tmp_path, "viewer")
    _, stranger_sec = _certs(tmp_path, "stranger")
    daemon_clients, broker_clients = tmp_path / "daemon-clients", tmp_path / "broker-clients"
    daemon_clients.mkdir(), broker_clients.mkdir()
    (daemon_clients / "broker.key").write_bytes(broker_pub.read_bytes())
    (broker_clients / "viewer.key").write_bytes((tmp_path / "viewer" / "viewer.key").read_bytes())

    sink = BusSink(BusSinkConfig(endpoint="tcp://127.0.0.1:*", curve_secret_key_file=str(daemon_sec),
                                 curve_clients_dir=str(daemon_clients)))
    broker = Broker("tcp://127.0.0.1:*", [sink.endpoint],
                    curve=Curve(str(daemon_pub), str(broker_sec), str(broker_sec), str(broker_clients))).start()
    known = _sub(broker.endpoint, broker_pub, sub_sec)
    stranger = _sub(broker.endpoint, broker_pub, stranger_sec)
    plain = _sub(broker.endpoint, None, None)
    try:
        got = None
        deadline = time.monotonic() + DEADLINE_S
        while got is None and time.monotonic() < deadline:  # subscriptions travel up first
            sink.publish(make_event(plate="CURVE1", camera="gate1"))
            if known.poll(300):
                got = known.recv_multipart()
        assert got is not None and got[0] == b"plate.final.gate1" and b"CURVE1" in got[1]
        assert broker.messages >= 1
        for sock in (stranger, plain):  # never admitted: nothing arrives
            assert not sock.poll(500)
    finally:
        for sock in (known, stranger, plain):
            sock.close()
        broker.stop()
        sink.close(linger_s=0)


def test_half_a_curve_upstream_or_an_unreadable_key_is_one_clear_error(tmp_path):
    with pytest.raises(BrokerError, match="needs both"):
        Broker("tcp://127.0.0.1:*", ["tcp://127.0.0.1:1"], curve=Curve(upstream_server_key="x.key"))
    broker = Broker("tcp://127.0.0.1:*", ["tcp://127.0.0.1:1"], curve=Curve(secret_key=str(tmp_path / "nope")))
    with pytest.raises(BrokerError, match="--curve-secret-key: cannot load"):
        broker.start()
    broker.stop()
