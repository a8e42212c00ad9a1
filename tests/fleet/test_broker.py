"""`alprd broker` on loopback: three real bus sinks (each a daemon's bus), the broker as a real
subprocess, a real SUB subscriber. Every event arrives once; a broker restart loses what was
published while it was down, and the subscriber counts exactly that from the sequence numbers."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

from alprd.config import BusSinkConfig
from alprd.sinks.bus import BusSink, SequenceGaps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sinks"))
from helpers_sinks import make_event  # noqa: E402
from benchmarks.ports import free_port

DEADLINE_S = 120.0  # a hang guard only: nothing here waits for it when it works


def _start_broker(endpoint: str, upstreams: list[str]) -> subprocess.Popen:
    args = [sys.executable, "-m", "alprd", "broker", "--bind", endpoint]
    for up in upstreams:
        args += ["--upstream", up]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    assert "relaying 3 daemon(s)" in line, line
    return proc


class Subscriber:
    def __init__(self, endpoint: str) -> None:
        self.sock = zmq.Context.instance().socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, b"plate.")
        self.sock.connect(endpoint)
        self.gaps = SequenceGaps()
        self.got: dict[bytes, list[int]] = {}  # publisher → numbers received

    def drain(self, wait_ms: int = 200) -> None:
        while self.sock.poll(wait_ms):
            topic, _, seq = self.sock.recv_multipart()
            self.gaps.observe(topic, seq)
            pub, n = seq.split(b" ")
            self.got.setdefault(pub, []).append(int(n))


def _until_all_heard(sinks, sub: Subscriber, cameras) -> None:
    """Publish probes until the subscriber hears every sink through the broker (subscriptions
    travel up through it first)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for sink, cam in zip(sinks, cameras):
            sink.publish(make_event(plate="PROBE", camera=cam))
        sub.drain(300)
        if len(sub.got) == len(sinks):  # one publisher id per sink
            return
    pytest.fail("the subscriber never heard every daemon through the broker")


@pytest.mark.slow
def test_broker_relays_three_daemons_and_a_restart_shows_as_a_gap():
    cameras = ["gate1", "gate2", "gate3"]
    sinks = [BusSink(BusSinkConfig(endpoint="tcp://127.0.0.1:*")) for _ in cameras]
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    broker = _start_broker(endpoint, [s.endpoint for s in sinks])
    sub = Subscriber(endpoint)
    try:
        _until_all_heard(sinks, sub, cameras)
        before = sum(len(v) for v in sub.got.values())
        for i in range(50):
            for sink, cam in zip(sinks, cameras):
                sink.publish(make_event(plate=f"P{i}", camera=cam))
        for sink in sinks:
            assert sink.flush(timeout=DEADLINE_S)
        deadline = time.monotonic() + DEADLINE_S
        while sum(len(v) for v in sub.got.values()) < before + 150 and time.monotonic() < deadline:
            sub.drain()
        assert sum(len(v) for v in sub.got.values()) == before + 150
        assert sub.gaps.missed == 0

        broker.send_signal(signal.SIGTERM)
        assert broker.wait(DEADLINE_S) == 0
        assert "stopped" in broker.stderr.read()
        for i in range(20):  # published while the broker is down: lost to the subscriber
            for sink, cam in zip(sinks, cameras):
                sink.publish(make_event(plate=f"LOST{i}", camera=cam))
        for sink in sinks:
            assert sink.flush(timeout=DEADLINE_S)

        broker = _start_broker(endpoint, [s.endpoint for s in sinks])
        missed_before = sub.gaps.missed
        deadline = time.monotonic() + DEADLINE_S
        while sub.gaps.missed - missed_before < 60 and time.monotonic() < deadline:
            for sink, cam in zip(sinks, cameras):
                sink.publish(make_event(plate="AGAIN", camera=cam))
            sub.drain(300)
        # each daemon's numbers show at least its 20 lost events, and every number is accounted for
        assert sub.gaps.missed - missed_before >= 60
        for pub, numbers in sub.got.items():
            assert numbers == sorted(numbers), "out of order"
            assert len(set(numbers)) == len(numbers), "a duplicate"
        first = {pub: min(ns) for pub, ns in sub.got.items()}
        last = {pub: max(ns) for pub, ns in sub.got.items()}
        assert sum(last[p] - first[p] + 1 for p in last) == sum(len(v) for v in sub.got.values()) + sub.gaps.missed
    finally:
        broker.send_signal(signal.SIGTERM)
        broker.wait(DEADLINE_S)
        sub.sock.close()
        for s in sinks:
            s.close(linger_s=0)


def test_broker_without_upstream_or_with_a_bad_endpoint_says_so_in_one_line():
    res = subprocess.run([sys.executable, "-m", "alprd", "broker", "--upstream", "tcp://127.0.0.1:1",
                          "--bind", "nonsense://x"], capture_output=True, text=True, timeout=DEADLINE_S)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alprd broker: cannot bind nonsense://x (Protocol not supported"), lines
