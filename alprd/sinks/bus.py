"""ZeroMQ bus sink: every event as a three-frame message [topic, json, sequence] on a PUB socket.

Topic is ``event.topic`` (``plate.preview.<camera>`` / ``plate.final.<camera>``), so subscribers
filter by prefix (``plate.final.`` = all finals, ``plate.final.gate1`` = one camera). The JSON frame
is PlateEvent.to_json(), the encoding documented in docs/events.md. The sequence frame,
``"<publisher id> <n>"``, numbers each topic's messages 1, 2, 3... for one run of the sink (a new
random publisher id each start), so a subscriber of any prefix can count what it missed
(SequenceGaps): PUB drops silently, and this is the only way a drop becomes visible to the one
who lost it.

Subscriptions are bounded (issue 18: a local client sending 150,000 distinct subscriptions a
second grew a plain PUB socket to 1.36 GB and stalled delivery). The socket is an XPUB in manual
mode, so every subscription passes through this sink: alprd.sinks.bus_guard decides which apply
(those that can match a topic of this daemon, and a few others) and cuts a connection that holds
more subscriptions than any subscriber needs, which frees what libzmq kept for it. Every waiting
subscription is served as soon as it can be, _SUB_BATCH at a time between batches of events:
libzmq takes a connection's subscriptions off its pipe into an unbounded queue (and a trie) each
time the socket is used at all, sending included, so a bus that served fewer than arrive grew
without bound (300 MB in 20 s of a 200,000/s flood; a time budget of 10,000/s did). Served at
once, a flooding connection is cut after PER_CONNECTION and the flood costs CPU, not memory.

ZeroMQ sockets are not thread-safe, so one thread owns the XPUB socket (created, bound, used and
closed there); publish() from any thread only puts bytes on a bounded queue. PUB never blocks:
past SNDHWM libzmq drops messages for that slow subscriber alone (invisibly to us), and sends use
NOBLOCK anyway; `dropped` counts what we could not hand to libzmq (queue full, EAGAIN).
With `curve_secret_key_file` the socket is a CurveZMQ server (encrypted; subscribers need its
public key); with `curve_clients_dir` too, only clients whose public certs are there may connect.
"""
from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Iterable

import zmq

from alprd.config import BusSinkConfig
from alprd.events import PlateEvent
from alprd.zmqcurve import load_certificate, serve_curve
from alprd.sinks.bus_guard import (MAX_MESSAGE_BYTES, UNREAD_LIMIT, ConnectionLedger, SubscriptionGate,
                                   connection_ended, cut_connection, local_address, unread_bytes)

log = logging.getLogger(__name__)

_STOP = object()
_FLUSH = object()
_CAMERAS = object()
_SUB_BATCH = 1000              # subscription messages served between two looks at the events
_BACKLOG_EVERY_S = 0.02       # how often connections' unread bytes are looked at
_EVENT_BATCH = 1000            # events sent between two looks at the subscriptions
_LOG_EVERY_S = 60.0
_SETTLE_S = 2.0               # how long a closing bus waits for libzmq to clean up ended connections
IPC_PATH_MAX = 107            # bytes of an ipc:// path that fit sockaddr_un.sun_path (Linux)


class BusError(RuntimeError):
    """The bus could not start (bad endpoint, address in use, unreadable key file)."""

    temporary = False  # True: retrying later may work (systemd restarts the service on it)


class BusAddressInUse(BusError):
    """Another process listens on the bus endpoint: one that may go away (an old alprd stopping)."""

    temporary = True


def is_local_endpoint(endpoint: str) -> bool:
    """ipc://, inproc:// and tcp:// on a loopback address: not reachable from another host."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    host = rest.rsplit(":", 1)[0].strip("[]").lower()
    return host in ("localhost", "lo", "::1") or host.startswith("127.")


def ipc_path(endpoint: str) -> str | None:
    """The socket file an ipc:// endpoint names, else None."""
    return endpoint[len("ipc://"):] if endpoint.startswith("ipc://") else None


def ipc_listening(path: str) -> bool:
    """Whether a process listens on the Unix socket file `path` (a connect succeeds)."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def load_server_keys(secret_file: str) -> tuple[bytes, bytes]:
    """(public, secret) from a ZeroMQ certificate file made by zmq.auth.create_certificates."""
    return load_certificate(secret_file, "sinks.bus.curve_secret_key_file", BusError)


class BusSink:
    """The Sink that publishes to ZeroMQ. Binding happens in the constructor (errors raise there)."""

    name = "bus"

    def __init__(self, cfg: BusSinkConfig, *, queue_size: int = 10000,
                 context: zmq.Context | None = None, cameras: Iterable[str] = ()) -> None:
        self.cfg = cfg
        self.sent = 0
        self.dropped = 0
        self.gate = SubscriptionGate(cameras)
        self.connections = ConnectionLedger()
        self.subscriptions = 0     # subscribe messages served (applied or refused)
        self._refusal_logged = self._cut_logged = -_LOG_EVERY_S
        self.endpoint = cfg.endpoint  # the bound endpoint (tcp://...:0 becomes the real port)
        self.publisher_id = uuid.uuid4().hex[:16]
        self._pub = self.publisher_id.encode("ascii")
        self._seqs: dict[bytes, int] = {}    # topic -> the last sequence number given
        self._seq_lock = threading.Lock()
        self._ctx = context or zmq.Context.instance()
        self._q: queue.Queue = queue.Queue(maxsize=queue_size)
        self._wake_r, self._wake_w = os.pipe()  # publish() wakes the socket thread's poll
        # held while the write end is written or closed: a publish() racing close() must not write
        # to the fd number after it was closed (the process may already have reused it elsewhere)
        self._wake_lock = threading.Lock()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._ready = threading.Event()
        self._error: Exception | None = None
        self._auth = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="bus-sink", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._close_wake()
            raise self._error

    # --- Sink protocol -------------------------------------------------------------------------
    def publish(self, event: PlateEvent) -> None:
        topic = event.topic.encode("utf-8")
        with self._seq_lock:   # numbered here, so a message dropped on any path leaves a gap
            self._seqs[topic] = n = self._seqs.get(topic, 0) + 1
        msg = (topic, event.to_json().encode("utf-8"), b"%s %d" % (self._pub, n))
        try:
            self._q.put_nowait(msg)
        except queue.Full:
            self.dropped += 1
            return
        self._wake()

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_w is None:
                return
            try:
                os.write(self._wake_w, b"\0")
            except (BlockingIOError, OSError):  # full: a wake-up is already pending
                pass

    def metrics(self) -> dict:
        """Figures for the fan-out's status (stats.json, Prometheus)."""
        return {"sent": self.sent, "queue_dropped": self.dropped, "bus_queued": self._q.qsize(),
                "subscriptions_refused": self.gate.refused, "subscribers_cut": self.connections.cut}

    def set_cameras(self, cameras: Iterable[str]) -> None:
        """The cameras this daemon publishes for changed (a SIGHUP reload): subscriptions to the
        topics of the new list apply from now on, whatever other subscriptions took the "foreign"
        slots. The socket thread applies it, in order with the events queued before."""
        try:
            self._q.put((_CAMERAS, tuple(cameras)), timeout=5.0)
        except queue.Full:
            log.warning("bus: the camera list could not be updated (send queue full)")
            return
        self._wake()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event was handed to libzmq (not: received by anyone)."""
        if self._closed or not self._thread.is_alive():
            return self._q.empty()
        done = threading.Event()
        try:
            self._q.put((_FLUSH, done), timeout=timeout)
        except queue.Full:
            return False
        self._wake()
        return done.wait(timeout)

    def close(self, linger_s: float = 1.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._linger_ms = int(linger_s * 1000)
        self._q.put(_STOP)
        self._wake()
        self._thread.join(linger_s + 5)
        if not self._thread.is_alive():
            self._close_wake()

    def _close_wake(self) -> None:
        with self._wake_lock:
            fds, self._wake_r, self._wake_w = (self._wake_r, self._wake_w), None, None
        for fd in fds:
            if fd is not None:
                os.close(fd)

    # --- socket-owning thread ------------------------------------------------------------------
    def _open(self) -> zmq.Socket:
        cfg = self.cfg
        sock = self._ctx.socket(zmq.XPUB)
        sock.setsockopt(zmq.SNDHWM, cfg.sndhwm)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.XPUB_MANUAL, 1)       # we decide which subscriptions apply
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        # What a connection may have read ahead of the socket thread (1 would stall ZAP-authenticated
        # peers); libzmq still moves it into an unbounded queue whenever the socket is used.
        sock.setsockopt(zmq.RCVHWM, 2)
        if cfg.curve_secret_key_file:
            public, secret = load_server_keys(cfg.curve_secret_key_file)
            self._auth = serve_curve(sock, self._ctx, public, secret, cfg.curve_clients_dir,
                                     "sinks.bus.curve_clients_dir", BusError)
        path = ipc_path(cfg.endpoint)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if ipc_listening(path):  # libzmq would silently take the path from its owner
                sock.close(0)
                raise BusAddressInUse(f"sinks.bus.endpoint: {cfg.endpoint} is already in use (a process "
                                      "listens on that socket file); stop it or choose another endpoint")
        try:
            sock.bind(cfg.endpoint)
        except zmq.ZMQError as exc:
            sock.close(0)
            if exc.errno == zmq.EADDRINUSE:
                from alprd.sinks.port_holder import holder_of, tcp_port

                port = tcp_port(cfg.endpoint)
                who = holder_of(port) if port is not None else None
                raise BusAddressInUse(f"sinks.bus.endpoint: {cfg.endpoint} is already in use"
                                      f"{f' by {who}' if who else ''}; stop it or choose another "
                                      "endpoint") from None
            raise BusError(f"sinks.bus.endpoint: cannot bind {cfg.endpoint} ({exc.strerror})") from None
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if not cfg.curve_secret_key_file and not is_local_endpoint(cfg.endpoint):
            log.warning("bus: %s is reachable from other hosts without encryption or authentication: "
                        "anyone who can connect reads every plate; set sinks.bus.curve_secret_key_file "
                        "(and curve_clients_dir) or bind a loopback address", cfg.endpoint)
        return sock

    def _run(self) -> None:
        try:
            sock = self._open()
        except Exception as exc:  # noqa: BLE001 - reported to the constructor's caller
            self._error = exc if isinstance(exc, BusError) else BusError(f"bus: {exc}")
            self._stop_auth()
            self._ready.set()
            return
        log.info("bus: publishing on %s", self.endpoint)
        self._ready.set()
        self._warned_at = 0.0
        try:
            self._loop(sock)
        finally:
            sock.close(getattr(self, "_linger_ms", 0))
            self._stop_auth()

    def _loop(self, sock: zmq.Socket) -> None:
        """Wait for events (the wake pipe) or subscriptions (the socket); send every queued event
        in order, and serve every waiting subscription, _SUB_BATCH between two batches of events."""
        poller = zmq.Poller()
        poller.register(self._wake_r, zmq.POLLIN)
        monitor = sock.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
        poller.register(monitor, zmq.POLLIN)
        try:
            self._poll_loop(sock, poller, monitor)
            self._settle_ended(monitor)
        finally:
            sock.disable_monitor()
            monitor.close(0)

    def _settle_ended(self, monitor: zmq.Socket) -> None:
        """Before the socket closes: wait (at most _SETTLE_S) until libzmq has cleaned up every
        connection whose subscriber already went away. libzmq 4.3.5 aborts the whole process
        ("Resource temporarily unavailable (src/session_base.cpp:233)") when it meets such an end
        while the socket is closing and that connection still holds part of an event (a subscriber
        too slow to take the rest): seen in the suite, once in ~10 runs of the test whose stuck
        subscriber goes away just before the bus closes. Live subscribers keep the linger time;
        with none (close(linger_s=0): nothing more to deliver) every connection is ended first, so
        none can end during the close."""
        self._track_connections(monitor)
        local = local_address(self.endpoint)
        if getattr(self, "_linger_ms", 0) > 0:
            ended = {fd for fd in self.connections.held if connection_ended(fd, local)}
        else:
            ended = set(self.connections.held)
            for fd in ended:
                cut_connection(fd, local)
        deadline = time.monotonic() + _SETTLE_S
        while ended and time.monotonic() < deadline:
            if monitor.poll(20):
                self._track_connections(monitor)
            ended &= self.connections.held.keys()

    def _poll_loop(self, sock: zmq.Socket, poller: zmq.Poller, monitor: zmq.Socket) -> None:
        poller.register(sock, zmq.POLLIN)
        backlog_at = 0.0
        while True:
            if dict(poller.poll(1000)).get(monitor):
                self._track_connections(monitor)
            if time.monotonic() - backlog_at >= _BACKLOG_EVERY_S:
                backlog_at = time.monotonic()
                self._cut_backlogged()
            try:
                while os.read(self._wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
            if not self._send_queued(sock):
                return
            if self._serve_subscriptions(sock, _SUB_BATCH) == _SUB_BATCH:
                self._wake()  # more waiting: serve them all, events in between

    def _send_queued(self, sock: zmq.Socket) -> bool:
        """Hand up to _EVENT_BATCH queued events to libzmq, in order; False once stopped."""
        for _ in range(_EVENT_BATCH):
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return True
            if item is _STOP:
                return False
            if isinstance(item, tuple) and item[0] is _FLUSH:
                item[1].set()
                continue
            if isinstance(item, tuple) and item[0] is _CAMERAS:
                self.gate.set_cameras(item[1])
                continue
            try:
                sock.send_multipart(item, flags=zmq.NOBLOCK)
                self.sent += 1
            except zmq.Again:
                self.dropped += 1
                if time.monotonic() - self._warned_at > _LOG_EVERY_S:
                    self._warned_at = time.monotonic()
                    log.warning("bus: dropping events (%d so far): send queue full", self.dropped)
        self._wake()  # more queued: come straight back after a look at the subscriptions
        return True

    def _serve_subscriptions(self, sock: zmq.Socket, budget: int) -> int:
        """Apply or refuse up to `budget` waiting (un)subscriptions; returns how many were read.
        In manual mode a (un)subscription applies to the connection of the last message read.
        Lean on purpose: under a flood this loop must outrun libzmq's intake (module doc)."""
        recv, gate, connections = sock.recv, self.gate, self.connections
        for n in range(budget):
            try:
                frame = recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return n
            msg = frame.bytes
            if not msg:
                continue
            op, topic = msg[0], msg[1:]
            if op == 0:
                if gate.applied(topic):  # a refused one was never in the trie
                    sock.setsockopt(zmq.UNSUBSCRIBE, topic)
                fd = _source_fd(frame)
                if fd is not None:
                    connections.unsubscribed(fd)
            elif op == 1:
                self.subscriptions += 1
                fd = _source_fd(frame)
                victim = connections.subscribed(fd) if fd is not None else None
                if victim is not None:
                    self._cut(victim)
                    if victim == fd:
                        continue
                if gate.allow(topic):
                    sock.setsockopt(zmq.SUBSCRIBE, topic)
                elif time.monotonic() - self._refusal_logged >= _LOG_EVERY_S:
                    self._refusal_logged = time.monotonic()
                    log.warning("bus: refusing subscriptions that match no topic of this daemon "
                                "(%d refused so far; %d others allowed); a client may be flooding "
                                "the bus", gate.refused, gate.foreign)
        return budget

    def _track_connections(self, monitor: zmq.Socket) -> None:
        from zmq.utils.monitor import recv_monitor_message

        while monitor.poll(0):
            event = recv_monitor_message(monitor)
            if event["event"] == zmq.EVENT_ACCEPTED:
                self.connections.opened(event["value"])
            elif event["event"] == zmq.EVENT_DISCONNECTED:
                self.connections.closed(event["value"])

    def _cut_backlogged(self) -> None:
        """Cut the connections that send faster than the bus reads (bus_guard.unread_bytes)."""
        for fd in list(self.connections.held):
            unread = unread_bytes(fd)
            if unread > UNREAD_LIMIT:
                self._cut(fd, f"{unread} bytes unread (limit {UNREAD_LIMIT})")

    def _cut(self, fd: int, why: str = "") -> None:
        """A connection holds more subscriptions than any subscriber needs, or sends them faster
        than they can be read: drop it (bus_guard)."""
        held = self.connections.held.get(fd, 0)
        self.connections.closed(fd)
        if cut_connection(fd, local_address(self.endpoint)):
            self.connections.cut += 1
            if time.monotonic() - self._cut_logged >= _LOG_EVERY_S:
                self._cut_logged = time.monotonic()
                log.warning("bus: disconnected a subscriber holding %d subscriptions, %s (limit %d per "
                            "connection, %d in all; %d cut so far): a client is flooding the bus",
                            held, why or "too many", self.connections.per_connection,
                            self.connections.total_limit, self.connections.cut)

    def _stop_auth(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None


def _source_fd(frame: zmq.Frame) -> int | None:
    """The connection a message came from (ZMQ_SRCFD), None when libzmq cannot say (inproc)."""
    try:
        fd = frame.get(zmq.SRCFD)
    except (zmq.ZMQError, AttributeError):
        return None
    return fd if fd >= 0 else None


class SequenceGaps:
    """Subscriber side: how many messages of the topics it receives never arrived, from each
    message's sequence frame. The first message of a (publisher, topic) only sets the start (a
    subscriber joins mid-stream; a restarted daemon is a new publisher), so only losses after
    that count."""

    def __init__(self) -> None:
        self.missed = 0
        self._last: dict[tuple[bytes, bytes], int] = {}

    def observe(self, topic: bytes, sequence: bytes) -> int:
        """Messages missed on this topic just before this one (0 when none); malformed frames
        count nothing."""
        try:
            pub, n_text = sequence.split(b" ", 1)
            n = int(n_text)
        except ValueError:
            return 0
        key = (pub, topic)
        last = self._last.get(key)
        self._last[key] = n if last is None else max(last, n)
        gap = n - last - 1 if last is not None and n > last + 1 else 0
        self.missed += gap
        return gap
