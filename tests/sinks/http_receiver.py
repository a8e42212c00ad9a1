"""A real HTTP webhook receiver on loopback for the webhook tests.

It verifies each request with the documented example receiver's verify() (docs/examples/
webhook_receiver.py, loaded from its file, so the docs' code is what the tests run) and records
every request in arrival order. It can be down (stop(): the port refuses connections, then
start() binds the same port again), slow (delay_s per request), held (each request waits for
the `hold` event: slow for as long as a test needs, whatever the machine's speed) or answer a
fixed status. The
global `arrivals` counter, when given, numbers its requests in one sequence with other observers
(the order tests compare a bus subscriber and SQL with it).
"""
from __future__ import annotations

import importlib.util
import itertools
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from waiting import HANG_GUARD_S

from benchmarks.ports import free_port

_EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "webhook_receiver.py"


def example_receiver():
    """docs/examples/webhook_receiver.py as a module."""
    spec = importlib.util.spec_from_file_location("webhook_receiver_example", _EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


@dataclass(frozen=True)
class Request:
    order: int
    event: dict
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def event_id(self) -> str:
        return self.event["event_id"]


class Receiver:
    def __init__(self, secret: bytes, *, delay_s: float = 0.0, status: int = 204,
                 arrivals: itertools.count | None = None, hold: threading.Event | None = None) -> None:
        self.secret = secret
        self.delay_s = delay_s
        self.hold = hold
        self.status = status
        self.verify = example_receiver().verify
        self.requests: list[Request] = []
        self.started = 0   # requests whose handling began (a slow one counts before it answers)
        self._arrivals = arrivals or itertools.count()
        self._lock = threading.Lock()
        self.port = free_port()          # kept across stop() and start(): an outage, then the same URL
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?token=abc"

    def start(self) -> "Receiver":
        recv = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                with recv._lock:
                    recv.started += 1
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if recv.delay_s:
                    time.sleep(recv.delay_s)
                if recv.hold is not None:
                    recv.hold.wait(HANG_GUARD_S)
                ok = recv.verify(recv.secret, body, self.headers.get("X-Alprd-Timestamp"),
                                 self.headers.get("X-Alprd-Signature"))
                with recv._lock:
                    recv.requests.append(Request(next(recv._arrivals), json.loads(body),
                                                 dict(self.headers.items()), body, ok))
                self.send_response(recv.status if ok else 401)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        deadline = time.monotonic() + 10
        while True:
            try:
                self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, verified_only: bool = True) -> list[dict]:
        with self._lock:
            return [r.event for r in self.requests if r.verified or not verified_only]

    def wait_for(self, n: int, timeout: float = HANG_GUARD_S) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.events()) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"the receiver got {len(self.events())} of {n} events "
                                     f"within {timeout} s")
            time.sleep(0.05)
        return self.events()
