"""benchmarks.ports: servers' ports outside the ephemeral range, a block per xdist worker."""
import socket

from benchmarks import ports


def test_ports_are_below_the_ephemeral_range_in_the_workers_block_and_never_repeat(monkeypatch):
    monkeypatch.setattr(ports, "_given", set())
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    got = [ports.free_port() for _ in range(50)]
    assert len(set(got)) == 50
    assert all(ports.LOW + ports.BLOCK <= p < ports.LOW + 2 * ports.BLOCK for p in got)
    assert max(got) < ports._ephemeral_low()
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    assert ports.LOW <= ports.free_port() < ports.LOW + ports.BLOCK


def test_a_port_something_holds_is_passed_over(monkeypatch):
    monkeypatch.setattr(ports, "_given", set())
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    block = ports._block()
    held = []
    try:
        for port in block[:-1]:               # hold all but the block's last port
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            held.append(s)
        assert ports.free_port() == block[-1]
    finally:
        for s in held:
            s.close()
