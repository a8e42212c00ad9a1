"""BusSink over real ZeroMQ sockets: message schema, topics, slow subscribers, CurveZMQ."""
from __future__ import annotations

import json
import socket
import time

import pytest
import zmq
import zmq.auth
from helpers_sinks import make_event, returns
from waiting import HANG_GUARD_S, wait_until

from alprd.config import BusSinkConfig
from alprd.events import PlateEvent
from alprd.sinks.base import Sink
from alprd.sinks.bus import BusError, BusSink, SequenceGaps

EVENT_KEYS = {"schema_version", "event_id", "kind", "camera_id", "track_id", "plate", "confidence",
              "alternatives", "reads", "first_seen", "last_seen", "direction", "parked", "corners",
              "crop_path", "travel"}


@pytest.fixture
def bus():
    sinks = []

    def make(**kw) -> BusSink:
        sinks.append(BusSink(BusSinkConfig(**{"endpoint": "tcp://127.0.0.1:*", **kw})))
        return sinks[-1]

    yield make
    for s in sinks:
        s.close(linger_s=0)


def _sub(endpoint: str, topic: str = "", **curve) -> zmq.Socket:
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    for k, v in curve.items():
        setattr(sock, k, v)
    sock.connect(endpoint)
    sock.setsockopt_string(zmq.SUBSCRIBE, topic)
    return sock


def _joined(sink: BusSink, sock: zmq.Socket, timeout: float = 120.0) -> bool:
    """Slow joiner: publish probes until the subscription has reached the publisher."""
    deadline = time.monotonic() + timeout
    probe = make_event("PROBE", camera="probe")
    while time.monotonic() < deadline:
        sink.publish(probe)
        if sock.poll(50):
            while sock.poll(50):
                sock.recv_multipart()
            return True
    return False


def test_subscriber_receives_topic_and_documented_json(bus):
    sink = bus()
    assert isinstance(sink, Sink)
    sub = _sub(sink.endpoint)
    assert _joined(sink, sub)
    events = [make_event("ABC123", "gate1"), make_event("ABC12", "gate2", kind="plate.preview")]
    for ev in events:
        sink.publish(ev)
    got = [sub.recv_multipart() for _ in events if sub.poll(120_000)]
    assert [g[0] for g in got] == [b"plate.final.gate1", b"plate.preview.gate2"]
    payload = json.loads(got[0][1])
    assert set(payload) == EVENT_KEYS
    assert payload["first_seen"].endswith("Z") and payload["schema_version"] == 1
    assert [PlateEvent.from_json(g[1]) for g in got] == events
    sub.close()


def test_each_topic_is_numbered_from_one_by_a_publisher_id(bus):
    sink = bus()
    sub = _sub(sink.endpoint, "plate.final.gate")        # not the join probes
    probe_sub = _sub(sink.endpoint, "plate.")
    assert _joined(sink, probe_sub)
    assert wait_until(lambda: sink.subscriptions >= 2)  # sub's own, served before the next send
    for cam in ("gate1", "gate2", "gate1", "gate1", "gate2"):
        sink.publish(make_event(camera=cam))
    got = [sub.recv_multipart() for _ in range(5) if sub.poll(120_000)]
    seqs = [(topic.decode(), seq.decode()) for topic, _, seq in got]
    pub = sink.publisher_id
    assert seqs == [("plate.final.gate1", f"{pub} 1"), ("plate.final.gate2", f"{pub} 1"),
                    ("plate.final.gate1", f"{pub} 2"), ("plate.final.gate1", f"{pub} 3"),
                    ("plate.final.gate2", f"{pub} 2")]
    assert bus().publisher_id != pub      # a restarted daemon does not continue the numbers
    sub.close()
    probe_sub.close()


def test_sequence_gaps_counts_only_losses_after_the_first_message():
    gaps = SequenceGaps()
    assert gaps.observe(b"t", b"p1 7") == 0          # joined mid-stream
    assert gaps.observe(b"t", b"p1 8") == 0
    assert gaps.observe(b"t", b"p1 11") == 2
    assert gaps.observe(b"u", b"p1 3") == 0          # another topic has its own numbers
    assert gaps.observe(b"t", b"p2 1") == 0          # a new publisher (restart) starts afresh
    assert gaps.observe(b"t", b"p1 10") == 0         # late or duplicate: not a loss
    assert gaps.observe(b"t", b"garbage") == 0
    assert gaps.missed == 2


def test_a_subscriber_that_fell_behind_counts_exactly_what_it_lost(bus):
    sink = bus(sndhwm=50)
    stuck = _sub(sink.endpoint)
    stuck.setsockopt(zmq.RCVHWM, 10)
    assert _joined(sink, stuck)
    ev = make_event(plate="SLOW1", camera="slow")
    for _ in range(3000):          # the subscriber reads nothing meanwhile: most are dropped
        sink.publish(ev)
    assert sink.flush(timeout=3600)
    gaps, received = SequenceGaps(), []

    def drain():
        while stuck.poll(200):
            topic, _, seq = stuck.recv_multipart()
            if topic == b"plate.final.slow":
                gaps.observe(topic, seq)
                received.append(int(seq.split()[1]))
    drain()
    sink.publish(ev)               # number 3001 shows whatever was lost before it
    assert sink.flush(timeout=3600)
    drain()
    assert received[0] == 1 and received[-1] == 3001
    assert gaps.missed > 0 and len(received) + gaps.missed == 3001
    stuck.close()


def test_topic_prefix_selects_kind_and_camera(bus):
    sink = bus()
    sub = _sub(sink.endpoint, "plate.final.gate1")
    probe_sub = _sub(sink.endpoint, "plate.")
    assert _joined(sink, probe_sub)
    assert wait_until(lambda: sink.subscriptions >= 2)  # sub's own, served before the next send
    for ev in (make_event(camera="gate2"), make_event(camera="gate1", kind="plate.preview"),
               make_event(camera="gate1")):
        sink.publish(ev)
    assert sub.poll(120_000)
    topic, _, _ = sub.recv_multipart()
    assert topic == b"plate.final.gate1"
    assert not sub.poll(300)
    sub.close()
    probe_sub.close()


def test_a_subscriber_that_never_reads_does_not_stall_publishing(bus):
    sink = bus(sndhwm=100)
    stuck = _sub(sink.endpoint)
    stuck.setsockopt(zmq.RCVHWM, 10)
    assert _joined(sink, stuck)
    ev = make_event(plate="SLOW1")

    def publish_and_flush():
        for _ in range(10000):
            sink.publish(ev)
        return sink.flush(timeout=3600)

    # `stuck` never reads a message: everything was handed over anyway (returns() fails on a hang)
    assert returns(publish_and_flush)
    assert sink.sent + sink.dropped >= 10000
    fresh = _sub(sink.endpoint)  # others still get live events
    assert _joined(sink, fresh)
    stuck.close()
    fresh.close()


def _with_mute_peer(sink: BusSink) -> socket.socket:
    """A TCP peer that never says a word, once the bus has seen it (its second connection)."""
    mute = socket.create_connection(("127.0.0.1", int(sink.endpoint.rsplit(":", 1)[1])))
    assert wait_until(lambda: len(sink.connections.held) == 2)
    mute.settimeout(HANG_GUARD_S)
    return mute


def _ends(peer: socket.socket) -> bool:
    while peer.recv(4096):                                  # libzmq's greeting, then the end
        pass
    peer.close()
    return True


def test_close_with_linger_lets_subscribers_take_the_last_events(bus):
    sink = bus()
    sub = _sub(sink.endpoint)
    assert _joined(sink, sub)
    mute = _with_mute_peer(sink)
    for i in range(200):
        sink.publish(make_event(plate=f"LAST{i}"))
    sink.close(linger_s=5.0)
    got = []
    while len(got) < 200 and sub.poll(int(HANG_GUARD_S * 1000)):
        got.append(json.loads(sub.recv_multipart()[1])["plate"])
    assert got == [f"LAST{i}" for i in range(200)]
    assert _ends(mute)
    sub.close()


def test_close_without_linger_ends_every_connection_before_the_socket_closes(bus):
    """libzmq 4.3.5 aborts the process when a connection ends during its socket's close while it
    holds part of an event (alprd.sinks.bus.BusSink._settle_ended): with nothing left to deliver,
    the bus ends each connection itself and waits until libzmq has seen every end."""
    sink = bus()
    sub = _sub(sink.endpoint)
    assert _joined(sink, sub)
    mute = _with_mute_peer(sink)
    sink.close(linger_s=0)
    assert sink.connections.held == {}                      # both ends seen while the socket was open
    assert _ends(mute)
    sub.close()


def test_bind_errors_raise_at_construction(bus):
    import os

    from alprd.sinks.bus import BusAddressInUse

    sink = bus()
    with pytest.raises(BusAddressInUse, match=f"is already in use by pid {os.getpid()} ") as held:
        BusSink(BusSinkConfig(endpoint=sink.endpoint))
    assert held.value.temporary  # `alprd run` exits 75 on it, which the unit retries
    with pytest.raises(BusError, match="cannot bind"):
        BusSink(BusSinkConfig(endpoint="nonsense://x"))


def test_ipc_endpoint(bus, tmp_path):
    sink = bus(endpoint=f"ipc://{tmp_path}/run/alprd.sock")
    sub = _sub(sink.endpoint)
    assert _joined(sink, sub)
    sub.close()


def test_an_ipc_bus_keeps_its_socket_file_through_a_config_check_and_a_second_daemon(bus, tmp_path):
    """libzmq binds an ipc path by deleting what is there: the config check (check-config, every
    reload) once did a trial bind, after which no new subscriber could reach the running bus."""
    from alprd.service.preflight import bus_problem
    from alprd.sinks.bus import BusAddressInUse

    endpoint = f"ipc://{tmp_path}/alprd.sock"
    sink = bus(endpoint=endpoint)
    assert bus_problem(endpoint) is None          # the live bus (this daemon's) is no config error
    with pytest.raises(BusAddressInUse, match="already in use"):
        BusSink(BusSinkConfig(endpoint=endpoint))  # a second daemon on the same path
    late = _sub(endpoint)                          # a subscriber that joins after both
    assert _joined(sink, late)
    late.close()


def test_a_stale_ipc_socket_file_is_replaced(bus, tmp_path):
    import socket as pysocket

    path = tmp_path / "alprd.sock"
    stale = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()                                  # the file of a daemon killed with -9
    sink = bus(endpoint=f"ipc://{path}")
    sub = _sub(sink.endpoint)
    assert _joined(sink, sub)
    sub.close()


def test_curve_encrypts_and_admits_only_known_clients(bus, tmp_path):
    if not zmq.has("curve"):
        pytest.skip("libzmq built without CURVE")
    keys, clients = tmp_path / "keys", tmp_path / "clients"
    keys.mkdir()
    clients.mkdir()
    _, server_secret = zmq.auth.create_certificates(keys, "server")
    client_public, client_secret = zmq.auth.create_certificates(keys, "client")
    (clients / "client.key").write_bytes(open(client_public, "rb").read())
    server_pub, _ = zmq.auth.load_certificate(server_secret)
    sink = bus(curve_secret_key_file=str(server_secret), curve_clients_dir=str(clients))

    cpub, csec = zmq.auth.load_certificate(client_secret)
    good = _sub(sink.endpoint, curve_serverkey=server_pub, curve_publickey=cpub, curve_secretkey=csec)
    assert _joined(sink, good)
    spub, ssec = zmq.curve_keypair()  # a stranger with the right server key
    stranger = _sub(sink.endpoint, curve_serverkey=server_pub, curve_publickey=spub, curve_secretkey=ssec)
    plain = _sub(sink.endpoint)
    assert not _joined(sink, stranger, timeout=1.0)
    assert not _joined(sink, plain, timeout=0.5)
    for s in (good, stranger, plain):
        s.close()


def test_missing_key_file_is_a_bus_error(tmp_path):
    with pytest.raises(BusError, match="curve_secret_key_file"):
        BusSink(BusSinkConfig(endpoint="tcp://127.0.0.1:*", curve_secret_key_file=str(tmp_path / "nope")))


def test_fleet_proxy_merges_several_daemons_buses(bus):
    """docs/events.md's fleet set-up: XSUB connected to every host, XPUB for the subscribers."""
    hosts = [bus(), bus()]
    ctx = zmq.Context()
    xsub, xpub = ctx.socket(zmq.XSUB), ctx.socket(zmq.XPUB)
    for h in hosts:
        xsub.connect(h.endpoint)
    port = xpub.bind_to_random_port("tcp://127.0.0.1")

    def proxy():
        try:
            zmq.proxy(xsub, xpub)
        except zmq.ContextTerminated:
            pass
        finally:
            xsub.close(0)
            xpub.close(0)

    import threading

    t = threading.Thread(target=proxy, daemon=True)
    t.start()
    sub = ctx.socket(zmq.SUB)
    sub.connect(f"tcp://127.0.0.1:{port}")
    sub.setsockopt_string(zmq.SUBSCRIBE, "plate.final.")
    seen: set[str] = set()
    deadline = time.monotonic() + 120  # a hang guard: the loop ends once both arrive
    while seen != {"siteA-gate1", "siteB-gate1"} and time.monotonic() < deadline:
        hosts[0].publish(make_event(camera="siteA-gate1"))
        hosts[1].publish(make_event(camera="siteB-gate1"))
        hosts[1].publish(make_event(camera="siteB-gate1", kind="plate.preview"))
        while sub.poll(50):
            topic, payload, _ = sub.recv_multipart()
            assert topic.startswith(b"plate.final.")
            seen.add(json.loads(payload)["camera_id"])
    assert seen == {"siteA-gate1", "siteB-gate1"}
    sub.close(0)
    ctx.term()
    t.join(5)


def test_a_publish_racing_close_never_writes_to_a_closed_wake_pipe(bus, monkeypatch):
    """publish() from the event path while another thread closes the sink: its wake-up byte must
    go to the sink's own pipe, never to a closed fd number that the process may have reused."""
    import os
    import threading

    sink = bus()
    pipe = os.fstat(sink._wake_w).st_ino
    in_write, closed, seen = threading.Event(), threading.Event(), []
    real_write = os.write

    def slow_write(fd, data):
        if threading.current_thread().name == "publisher":   # stalls between choosing the fd and writing
            in_write.set()
            closed.wait(1.0)
            try:
                seen.append(os.fstat(fd).st_ino == pipe)
            except OSError:
                seen.append(False)
        return real_write(fd, data)

    monkeypatch.setattr("alprd.sinks.bus.os.write", slow_write)
    publisher = threading.Thread(target=sink.publish, args=(make_event("皖A12345"),), name="publisher")
    publisher.start()
    assert in_write.wait(10)
    closer = threading.Thread(target=lambda: (sink.close(linger_s=0), closed.set()))
    closer.start()
    publisher.join(10)
    closer.join(10)
    assert not publisher.is_alive() and not closer.is_alive()
    assert seen == [True]
