"""Loopback ports for the servers that tests and benchmarks start (daemon buses, web, PostgreSQL,
MQTT, RTSP, HTTP receivers).

Binding port 0 and closing the socket hands out a port of the kernel's ephemeral range, which any
outgoing connection on the host may take as its local port before the server binds it: with the
suite in two pytest-xdist workers, the other worker's database or bus client did (a daemon then
refused to start, its bus endpoint "already in use"). Ports here come from below the ephemeral
range, a block of them per xdist worker, each checked free before it is handed out and never
handed out twice by one process.
"""
from __future__ import annotations

import functools
import os
import random
import socket

LOW = 10000          # first port of the first block
BLOCK = 1000         # ports per xdist worker
_given: set[int] = set()


@functools.lru_cache(maxsize=1)
def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _block() -> range:
    """This process's block: gwN's own, the main process (no xdist) the one past them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    blocks = max(1, (_ephemeral_low() - LOW) // BLOCK)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else blocks - 1
    start = LOW + (index % blocks) * BLOCK
    return range(start, start + BLOCK)


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback TCP port nothing holds now, from this process's block, starting at a random
    place in it (two runs side by side rarely meet, and a port that is taken is passed over)."""
    block = _block()
    first = random.randrange(len(block))
    for i in range(len(block)):
        port = block[(first + i) % len(block)]
        if port not in _given and _bindable(port):
            _given.add(port)
            return port
    raise RuntimeError(f"no free port in {block.start}-{block.stop - 1}")
