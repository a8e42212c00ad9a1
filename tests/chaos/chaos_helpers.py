"""The chaos suite's harness: a daemon with every durable sink on, a real bus subscriber, and the
one comparison every fault ends in.

What "nothing missing, nothing twice" means here, per camera:

- expected: the plates the test streams hold (tests/chaos/bursts.py: one plate per burst of
  frames). Where a fault legitimately changes what a camera shows (a restarted decoder reads a
  file again from its start), the test says how, and the expectation follows;
- stored: the rows of `plate_events` (SQL), read back after the daemon stopped;
- published: the plate.final messages a SUB socket received, connected before the daemon started
  and kept reading until it stopped (so the bus's slow-joiner loss cannot hide anything);
- logged: the JSONL sink's finals and the daemon's own counter (stats.json).

`Ledger.check()` asserts that these agree: each final once (no event_id twice, no camera/track
twice within one daemon run), the same event ids in SQL, on the bus and in the JSONL file, every
confirmed track (a plate.preview) closed by exactly one final, and per camera the expected count.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import zmq

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "daemon"))

from helpers_daemon import DaemonProcess, children_named, env, events, run_alprd  # noqa: E402,F401

from benchmarks import harness  # noqa: E402
from benchmarks.ports import free_port  # noqa: E402,F401  (the chaos tests import it from here)

RIGGED_TEXT = "A"


def chaos_config(path: Path, cameras: list[dict], *, state_dir: Path, weights: Path, bus_port: int,
                 sql_url: str, tracking: dict | None = None, defaults: dict | None = None,
                 sql: dict | None = None, inference: dict | None = None) -> Path:
    """Every sink on: JSONL, SQL (through its spool), the bus on a fixed loopback port."""
    return harness.write_config(path, harness.config(
        cameras, state_dir=state_dir, weights=weights,
        # ring_slots 64: files play at their own rate whatever the worker does; at load 40 it read
        # 0.3 frames/s and 8 slots (the default) were overwritten before it came: a plate lost
        defaults={"fps": 5, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0,
                  "open_timeout_s": 3, "read_timeout_s": 3, "ring_slots": 64, **(defaults or {})},
        # max_queue_ms 0: every frame is processed however loaded the machine, so every plate
        # is seen (skipping late frames is the dispatch tests' subject, not these)
        inference={"backend": "torch", "threads": 1, "max_batch": 2, "max_wait_ms": 20,
                   "max_queue_ms": 0, **(inference or {})},
        tracking={"max_unseen_s": 1.0, **(tracking or {})},
        sinks={"sql": {"enabled": True, "url": sql_url, "flush_interval_s": 0.2,
                       "retry_max_s": 1.0, "busy_timeout_s": 1.0, **(sql or {})},
               "bus": {"enabled": True, "endpoint": f"tcp://127.0.0.1:{bus_port}"}}))


class Subscriber:
    """A real SUB socket in a thread, connected before the daemon binds (ZeroMQ reconnects by
    itself, also across daemon restarts), recording every message until close()."""

    def __init__(self, endpoint: str, topic: str = "plate.") -> None:
        self.endpoint = endpoint
        self.messages: list[tuple[str, dict, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, 0)  # unlimited: this subscriber must never be the one that drops
        self._sock.connect(endpoint)
        self._sock.setsockopt_string(zmq.SUBSCRIBE, topic)
        self._thread = threading.Thread(target=self._run, name="chaos-sub", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        drain_until = None
        while True:
            if self._stop.is_set() and drain_until is None:
                drain_until = time.monotonic() + 60  # a hang guard for a publisher that never stops
            if not poller.poll(100 if drain_until is None else 500):
                if drain_until is not None:
                    break  # stopping, and 0.5 s without a message: all that was sent is read
                continue
            if drain_until is not None and time.monotonic() > drain_until:
                break
            while True:
                try:
                    topic, payload, _sequence = self._sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                with self._lock:
                    self.messages.append((topic.decode(), json.loads(payload), time.monotonic()))

    def events(self, kind: str | None = None, camera: str | None = None) -> list[dict]:
        with self._lock:
            return [e for _, e, _ in self.messages
                    if (kind is None or e["kind"] == kind) and (camera is None or e["camera_id"] == camera)]

    def finals(self, camera: str | None = None) -> list[dict]:
        return self.events("plate.final", camera)

    def close(self) -> None:
        """Reads on until the socket has been quiet for 0.5 s (a fixed pause could lose the last
        events on a loaded machine), then closes."""
        self._stop.set()
        self._thread.join(120)
        self._sock.close(0)
        self._ctx.term()


def sql_finals(url: str) -> list[dict]:
    """Every row of plate_events (as PlateEvent-ish dicts), read with a fresh engine."""
    import sqlalchemy as sa

    from alprd.sinks import schema
    from alprd.sinks.db_url import make_engine

    engine = make_engine(url, create_dirs=False)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(schema.plate_events)).all()
    finally:
        engine.dispose()
    return [dict(event_id=str(r.event_id), camera_id=r.camera_id, track_id=r.track_id, plate=r.plate,
                 reads=r.reads, crop_path=r.crop_path) for r in rows]


def spool_records(spool_dir: Path) -> list[dict]:
    """Every complete record in a spool's segment files (acked or not)."""
    out = []
    for seg in sorted(spool_dir.glob("seg-*.jsonl")):
        for line in seg.read_bytes().split(b"\n")[:-1]:  # a torn last line has no newline
            out.append(json.loads(line))
    return out


def counts(evs: list[dict]) -> dict[str, int]:
    return dict(Counter(e["camera_id"] for e in evs))


@dataclass
class Ledger:
    """The finals of one fault scenario, gathered from every sink, and the comparison."""

    name: str
    expected: dict[str, int]              # camera -> plates the streams hold
    sql: list[dict]
    bus: list[dict]                       # finals received on the bus
    bus_previews: list[dict]
    jsonl: list[dict]                     # finals in the JSONL file(s)
    counted: int | None = None            # the daemon's own plate.final counter(s)
    runs: int = 1                         # daemon runs whose events are in here
    notes: dict = field(default_factory=dict)

    def table(self) -> str:
        cams = sorted(set(self.expected) | set(counts(self.sql)) | set(counts(self.bus)))
        rows = [f"{self.name}: camera expected/stored(SQL)/published(bus)/jsonl"]
        for c in cams:
            rows.append(f"  {c}: {self.expected.get(c, 0)}/{counts(self.sql).get(c, 0)}/"
                        f"{counts(self.bus).get(c, 0)}/{counts(self.jsonl).get(c, 0)}")
        return "\n".join(rows)

    def check(self) -> None:
        report = self.table()
        print(report)  # pytest -s / -rA shows the per-fault figures
        ids = {name: [e["event_id"] for e in evs] for name, evs in
               (("sql", self.sql), ("bus", self.bus), ("jsonl", self.jsonl))}
        for name, lst in ids.items():
            twice = [i for i, n in Counter(lst).items() if n > 1]
            assert not twice, f"{name}: event ids seen twice {twice}\n{report}"
        assert set(ids["sql"]) == set(ids["bus"]) == set(ids["jsonl"]), (
            f"sinks disagree: only in SQL {set(ids['sql']) - set(ids['bus'])}, only on the bus "
            f"{set(ids['bus']) - set(ids['sql'])}, jsonl-only {set(ids['jsonl']) - set(ids['sql'])}\n{report}")
        if self.runs == 1:  # track ids restart with the daemon; within one run each track ends once
            tracks = Counter((e["camera_id"], e["track_id"]) for e in self.bus)
            assert all(n == 1 for n in tracks.values()), f"a track ended twice: {tracks}\n{report}"
            closed = {(e["camera_id"], e["track_id"]) for e in self.bus}
            announced = {(e["camera_id"], e["track_id"]) for e in self.bus_previews}
            assert announced <= closed, f"confirmed tracks without a final: {announced - closed}\n{report}"
        if self.counted is not None:
            assert self.counted == len(self.bus), f"daemon counted {self.counted} finals\n{report}"
        assert all(e["plate"] == RIGGED_TEXT for e in self.sql), report
        assert counts(self.sql) == {k: v for k, v in self.expected.items() if v}, report


class Blackhole:
    """A TCP port that accepts connections and never answers: a camera that hangs mid-handshake."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
            except OSError:
                continue

    @property
    def url(self) -> str:
        return f"rtsp://viewer:s3cret-pw@127.0.0.1:{self.port}/stream"

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        for c in self.accepted:
            c.close()
        self.sock.close()


class SqliteLocker:
    """Another process holding an exclusive lock on a SQLite database for a while."""

    def __init__(self, db: Path, seconds: float) -> None:
        code = ("import sqlite3, sys, time\n"
                "c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n"
                "c.execute('BEGIN EXCLUSIVE')\n"
                "print('LOCKED', flush=True)\n"
                "time.sleep(float(sys.argv[2]))\n"
                "c.execute('COMMIT')\n")
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(db), str(seconds)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "LOCKED":
            self.proc.kill()
            raise RuntimeError(f"could not lock {db}: {line!r}")

    def wait(self, timeout: float) -> None:
        self.proc.wait(timeout)


def kill_child(daemon: DaemonProcess, comm: str) -> int:
    """SIGKILL the daemon's child with this kernel comm name; returns its pid."""
    pids = daemon.wait_for(lambda: children_named(daemon.proc.pid, comm), 20, f"the {comm!r} process")
    os.kill(pids[0], signal.SIGKILL)
    return pids[0]


def stop_daemon(daemon: DaemonProcess, timeout: float = 60) -> int:
    daemon.signal(signal.SIGTERM)
    return daemon.wait(timeout)


def no_tracebacks(text: str) -> None:
    assert "Traceback" not in text, text[-4000:]


def decoder_pid(daemon: DaemonProcess, camera: str, timeout: float = 20) -> int:
    """The pid of a camera's decoder: the writer pid in its ring's shared-memory name."""
    from alprd.stream.ring import list_segments, segment_pid

    def find():
        for name in list_segments():
            if name.startswith(f"alprd_{camera}_"):
                pid = segment_pid(name)
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == daemon.proc.pid:
                    return pid
        return None

    return daemon.wait_for(find, timeout, f"the decoder of {camera}")


class FullDisk:
    """A tiny tmpfs mounted at `path` and filled up: every write there fails with ENOSPC.
    `reason` says why it could not be arranged (not root, no mount), else None."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.mounted = False
        self.reason: str | None = None
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            self.reason = "not root: cannot mount a small tmpfs"
            return
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,nr_inodes=64", "tmpfs", str(path)],
                             capture_output=True, text=True, timeout=20)
        if res.returncode != 0:
            self.reason = f"mount failed: {res.stderr.strip()}"
            return
        self.mounted = True
        self.filler = path / "filler"
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)

    def free(self) -> None:
        if self.mounted:
            self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=20)
            self.mounted = False


class SubscriberChurn:
    """Many subscribers joining and leaving (connect, subscribe, maybe read a little, close)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.cycles = 0
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        ctx = zmq.Context()
        try:
            while not self._stop.is_set():
                socks = []
                for _ in range(10):
                    s = ctx.socket(zmq.SUB)
                    s.setsockopt(zmq.LINGER, 0)
                    s.connect(self.endpoint)
                    s.setsockopt_string(zmq.SUBSCRIBE, "plate.")
                    socks.append(s)
                self._stop.wait(0.2)
                for s in socks:
                    while s.poll(0):
                        s.recv_multipart()
                        self.received += 1
                    s.close(0)
                self.cycles += 1
        finally:
            ctx.term()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


class IdleSubscriber:
    """Connects, subscribes to everything, and never reads (tiny buffers, so it backs up first)."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.RCVHWM, 1)
        self.sock.setsockopt(zmq.RCVBUF, 4096)
        self.sock.connect(endpoint)
        self.sock.setsockopt_string(zmq.SUBSCRIBE, "")

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


def stats(state_dir: Path) -> dict:
    return json.loads((state_dir / "stats.json").read_text())


def frames_accounted(s: dict) -> bool:
    f = s["frames"]
    return f["processed"] + f["dropped"] + f["stale"] + f["lost"] == f["received"]
