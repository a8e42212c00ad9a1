"""The site broker: ZeroMQ's own proxy between an XSUB socket and an XPUB socket.

Why this shape: every daemon's bus (alprd.sinks.bus) binds an XPUB of its own, so the broker's
XSUB *connects* to each of them (`upstreams`, any number; libzmq reconnects by itself when a
daemon restarts) and its XPUB binds one endpoint that subscribers read the whole site from.
Subscriptions travel upstream through the proxy, so each daemon's subscription guard still applies.
Messages pass unchanged, with their sequence frame ("<publisher> <n>"): a subscriber counts what
it missed per publisher and topic (alprd.sinks.bus.SequenceGaps), across a broker restart too.

The relay is libzmq's (zmq.proxy_steerable), not a hand-made loop; the control socket only lets
`stop()` end it. A `capture` socket counts what passed (its only metric).
"""
from __future__ import annotations

import logging
import threading
import uuid

import zmq

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The broker could not start (bad endpoint, address in use)."""


class Broker:
    """`start()` binds and runs the proxy in a thread; `stop()` ends it. `endpoint` is the bound
    XPUB address (a `tcp://host:*` wildcard resolved)."""

    def __init__(self, bind: str, upstreams: list[str], *, sndhwm: int = 10000) -> None:
        if not upstreams:
            raise BrokerError("no upstream: name each daemon's bus endpoint (--upstream)")
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
        self._ctx.term()
