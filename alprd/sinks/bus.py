"""ZeroMQ bus sink: every event as a three-frame message [topic, json, sequence] on a PUB socket.

Topic is ``event.topic`` (``plate.preview.<camera>`` / ``plate.final.<camera>``), so subscribers
filter by prefix (``plate.final.`` = all finals, ``plate.final.gate1`` = one camera). The JSON frame
is PlateEvent.to_json(), the encoding documented in docs/events.md. The sequence frame,
``"<publisher id> <n>"``, numbers each topic's messages 1, 2, 3... for one run of the sink (a new
random publisher id each start), so a subscriber of any prefix can count what it missed
(SequenceGaps): PUB drops silently, and this is the only way a drop becomes visible to the one
who lost it.

ZeroMQ sockets are not thread-safe, so one thread owns the PUB socket (created, bound, used and
closed there); publish() from any thread only puts bytes on a bounded queue. PUB never blocks:
past SNDHWM libzmq drops messages for that slow subscriber alone (invisibly to us), and sends use
NOBLOCK anyway; `dropped` counts what we could not hand to libzmq (queue full, EAGAIN).
With `curve_secret_key_file` the socket is a CurveZMQ server (encrypted; subscribers need its
public key); with `curve_clients_dir` too, only clients whose public certs are there may connect.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from pathlib import Path

import zmq

from alprd.config import BusSinkConfig
from alprd.events import PlateEvent

log = logging.getLogger(__name__)

_STOP = object()
_FLUSH = object()


class BusError(RuntimeError):
    """The bus could not start (bad endpoint, address in use, unreadable key file)."""


def is_local_endpoint(endpoint: str) -> bool:
    """ipc://, inproc:// and tcp:// on a loopback address: not reachable from another host."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    host = rest.rsplit(":", 1)[0].strip("[]").lower()
    return host in ("localhost", "lo", "::1") or host.startswith("127.")


def load_server_keys(secret_file: str) -> tuple[bytes, bytes]:
    """(public, secret) from a ZeroMQ certificate file made by zmq.auth.create_certificates."""
    import zmq.auth

    try:
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as exc:
        raise BusError(f"sinks.bus.curve_secret_key_file: cannot load {secret_file} ({exc})") from None
    if not secret:
        raise BusError(f"sinks.bus.curve_secret_key_file: {secret_file} holds no secret key "
                       "(use the .key_secret file)")
    return public, secret


class BusSink:
    """The Sink that publishes to ZeroMQ. Binding happens in the constructor (errors raise there)."""

    name = "bus"

    def __init__(self, cfg: BusSinkConfig, *, queue_size: int = 10000,
                 context: zmq.Context | None = None) -> None:
        self.cfg = cfg
        self.sent = 0
        self.dropped = 0
        self.endpoint = cfg.endpoint  # the bound endpoint (tcp://...:0 becomes the real port)
        self.publisher_id = uuid.uuid4().hex[:16]
        self._pub = self.publisher_id.encode("ascii")
        self._seqs: dict[bytes, int] = {}    # topic -> the last sequence number given
        self._seq_lock = threading.Lock()
        self._ctx = context or zmq.Context.instance()
        self._q: queue.Queue = queue.Queue(maxsize=queue_size)
        self._ready = threading.Event()
        self._error: Exception | None = None
        self._auth = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="bus-sink", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
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

    def metrics(self) -> dict:
        """Figures for the fan-out's status (stats.json, Prometheus)."""
        return {"sent": self.sent, "queue_dropped": self.dropped, "bus_queued": self._q.qsize()}

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event was handed to libzmq (not: received by anyone)."""
        if self._closed or not self._thread.is_alive():
            return self._q.empty()
        done = threading.Event()
        try:
            self._q.put((_FLUSH, done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def close(self, linger_s: float = 1.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._linger_ms = int(linger_s * 1000)
        self._q.put(_STOP)
        self._thread.join(linger_s + 5)

    # --- socket-owning thread ------------------------------------------------------------------
    def _open(self) -> zmq.Socket:
        cfg = self.cfg
        sock = self._ctx.socket(zmq.PUB)
        sock.setsockopt(zmq.SNDHWM, cfg.sndhwm)
        sock.setsockopt(zmq.LINGER, 0)
        if cfg.curve_secret_key_file:
            public, secret = load_server_keys(cfg.curve_secret_key_file)
            if cfg.curve_clients_dir:
                from zmq.auth.thread import ThreadAuthenticator

                if not Path(cfg.curve_clients_dir).is_dir():
                    raise BusError(f"sinks.bus.curve_clients_dir: {cfg.curve_clients_dir} is not a directory")
                self._auth = ThreadAuthenticator(self._ctx)
                self._auth.start()
                self._auth.configure_curve(domain="*", location=cfg.curve_clients_dir)
            sock.curve_secretkey = secret
            sock.curve_publickey = public
            sock.curve_server = True
        if cfg.endpoint.startswith("ipc://"):
            Path(cfg.endpoint[len("ipc://"):]).parent.mkdir(parents=True, exist_ok=True)
        try:
            sock.bind(cfg.endpoint)
        except zmq.ZMQError as exc:
            sock.close(0)
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
        warned_at = 0.0
        try:
            while True:
                item = self._q.get()
                if item is _STOP:
                    break
                if isinstance(item, tuple) and item[0] is _FLUSH:
                    item[1].set()
                    continue
                try:
                    sock.send_multipart(item, flags=zmq.NOBLOCK)
                    self.sent += 1
                except zmq.Again:
                    self.dropped += 1
                    if time.monotonic() - warned_at > 60:
                        warned_at = time.monotonic()
                        log.warning("bus: dropping events (%d so far): send queue full", self.dropped)
        finally:
            sock.close(getattr(self, "_linger_ms", 0))
            self._stop_auth()

    def _stop_auth(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None


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
