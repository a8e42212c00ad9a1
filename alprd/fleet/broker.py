"""The site broker: ZeroMQ's own proxy between an XSUB socket and an XPUB socket.

Why this shape: every daemon's bus (alprd.sinks.bus) binds an XPUB of its own, so the broker's
XSUB *connects* to each of them (`upstreams`, any number; libzmq reconnects by itself when a
daemon restarts) and its XPUB binds one endpoint that subscribers read the whole site from.
Subscriptions travel upstream through the proxy, so each daemon's subscription guard still applies.
Messages pass unchanged, with their sequence frame ("<publisher> <n>"): a subscriber counts what
it missed per publisher and topic (alprd.sinks.bus.SequenceGaps), across a broker restart too.

The relay is libzmq's (zmq.proxy_steerable), not a hand-made loop; the control socket only lets
`stop()` end it. A `capture` socket counts what passed (its only metric).

CurveZMQ (`Curve`), each side on its own: upstream the XSUB is a Curve *client* of every daemon's
encrypted bus (the daemons' public key, this broker's own certificate, admitted in the daemons'
sinks.bus.curve_clients_dir); downstream the XPUB is a Curve *server* (its secret certificate, and
optionally a directory of the subscribers it admits), as a daemon's bus is.
"""
from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass

import zmq

from alprd.zmqcurve import load_certificate, serve_curve

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The broker could not start (bad endpoint, address in use, an unreadable key)."""


@dataclass(frozen=True)
class Curve:
    """Certificate files (zmq.auth.create_certificates) for either side; None = plain on that side."""

    upstream_server_key: str | None = None   # the daemons' public cert (.key): one site bus key
    upstream_client_key: str | None = None   # this broker's secret cert (.key_secret)
    secret_key: str | None = None            # this broker's server secret cert, for subscribers
    clients_dir: str | None = None           # public certs of admitted subscribers; None = any


def _load(path: str, what: str, secret: bool) -> tuple[bytes, bytes | None]:
    return load_certificate(path, what, BrokerError, secret=secret)


class Broker:
    """`start()` binds and runs the proxy in a thread; `stop()` ends it. `endpoint` is the bound
    XPUB address (a `tcp://host:*` wildcard resolved)."""

    def __init__(self, bind: str, upstreams: list[str], *, sndhwm: int = 10000, curve: Curve = Curve()) -> None:
        if not upstreams:
            raise BrokerError("no upstream: name each daemon's bus endpoint (--upstream)")
        if bool(curve.upstream_server_key) != bool(curve.upstream_client_key):
            raise BrokerError("CurveZMQ upstream needs both the daemons' public key and this broker's "
                              "secret certificate (--upstream-server-key, --upstream-client-key)")
        if curve.clients_dir and not curve.secret_key:
            raise BrokerError("--curve-clients-dir needs --curve-secret-key")
        self.curve = curve
        self._auth = None
        self.bind_endpoint = bind
        self.upstreams = list(upstreams)
        self.sndhwm = sndhwm
        self.endpoint = ""
        self.messages = 0
        self._ctx = zmq.Context()
        self._control = f"inproc://broker-control-{uuid.uuid4().hex}"
        self._capture = f"inproc://broker-capture-{uuid.uuid4().hex}"
        self._ready = threading.Event()
        self._error: str | None = None
        self._thread = threading.Thread(target=self._run, name="broker", daemon=True)
        self._counter = threading.Thread(target=self._count, name="broker-count", daemon=True)

    def start(self, timeout: float = 10.0) -> "Broker":
        self._counter.start()
        self._thread.start()
        self._ready.wait(timeout)
        if self._error:
            self._thread.join(timeout)
            raise BrokerError(self._error)
        return self

    def _run(self) -> None:
        xsub, xpub = self._ctx.socket(zmq.XSUB), self._ctx.socket(zmq.XPUB)
        control, capture = self._ctx.socket(zmq.PAIR), self._ctx.socket(zmq.PUSH)
        for s in (xsub, xpub, control, capture):
            s.setsockopt(zmq.LINGER, 0)
        try:
            xpub.setsockopt(zmq.SNDHWM, self.sndhwm)
            self._secure(xsub, xpub)
            try:
                xpub.bind(self.bind_endpoint)
            except zmq.ZMQError as exc:
                raise BrokerError(f"cannot bind {self.bind_endpoint} ({exc.strerror})") from None
            self.endpoint = xpub.getsockopt_string(zmq.LAST_ENDPOINT)
            for up in self.upstreams:
                try:
                    xsub.connect(up)
                except zmq.ZMQError as exc:
                    raise BrokerError(f"cannot connect to {up} ({exc.strerror})") from None
            control.bind(self._control)
            capture.connect(self._capture)
            log.debug("broker: %s -> %s", ", ".join(self.upstreams), self.endpoint)
            self._ready.set()
            zmq.proxy_steerable(xsub, xpub, capture, control)
        except BrokerError as exc:
            self._error = str(exc)
            self._ready.set()
        except zmq.ContextTerminated:
            pass
        finally:
            for s in (xsub, xpub, control, capture):
                s.close()

    def _secure(self, xsub, xpub) -> None:
        """Curve options on both sockets, before any bind or connect."""
        c = self.curve
        if c.upstream_server_key:
            server_public, _ = _load(c.upstream_server_key, "--upstream-server-key", secret=False)
            public, secret = _load(c.upstream_client_key, "--upstream-client-key", secret=True)
            xsub.curve_serverkey, xsub.curve_publickey, xsub.curve_secretkey = server_public, public, secret
        if c.secret_key:
            public, secret = _load(c.secret_key, "--curve-secret-key", secret=True)
            self._auth = serve_curve(xpub, self._ctx, public, secret, c.clients_dir,
                                     "--curve-clients-dir", BrokerError)

    def _count(self) -> None:
        """The capture socket gets every frame both ways: a message is its last frame."""
        pull = self._ctx.socket(zmq.PULL)
        pull.setsockopt(zmq.LINGER, 0)
        pull.bind(self._capture)
        try:
            while True:
                pull.recv()
                if not pull.getsockopt(zmq.RCVMORE):
                    self.messages += 1
        except zmq.ContextTerminated:
            pass
        finally:
            pull.close()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive() and self._ready.is_set() and not self._error:
            ctl = self._ctx.socket(zmq.PAIR)
            ctl.setsockopt(zmq.LINGER, 0)
            ctl.connect(self._control)
            ctl.send(b"TERMINATE")
            self._thread.join(timeout)
            ctl.close()
        if self._auth is not None:
            self._auth.stop()
        self._ctx.term()
