"""Live events for the console: one bus subscription per web process, fanned out to every client.

The daemon's bus sees one subscriber however many pages are open (20 clients of the stream cost
the daemon nothing more than one: benchmarks/web_clients.py). BusListener owns the ZeroMQ SUB
socket in its own thread (sockets are not thread-safe) and hands each event to the Hub on the
server's event loop; the Hub keeps the latest `buffer` events for pages that open later and puts
each event on every client's bounded queue. A client that falls behind loses events (counted,
and told with a `gap` message), never the others' or the daemon's time.
"""
from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
import time

log = logging.getLogger(__name__)

CLIENT_QUEUE = 1000   # events waiting per client before that client loses some
CROP_MEMORY = 10000   # live events whose crop path is remembered (served before SQL has them)


class Client:
    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue(CLIENT_QUEUE)
        self.lost = 0


class Hub:
    """Recent events and the connected clients; every method but feed() runs on the event loop."""

    def __init__(self, buffer: int = 200) -> None:
        self.recent: collections.deque = collections.deque(maxlen=max(buffer, 0) or None)
        self.buffer = buffer
        self.clients: set[Client] = set()
        self.crops: collections.OrderedDict[str, str] = collections.OrderedDict()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.received = 0
        self.lost = 0
        self.seq = 0
        self.closed = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def feed(self, event: dict) -> None:
        """From any thread: one event (a dict as the bus carries it, crop_path already removed)."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._deliver, event)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def remember_crop(self, event_id: str, crop_path: str) -> None:
        self.crops[event_id] = crop_path
        while len(self.crops) > CROP_MEMORY:
            self.crops.popitem(last=False)

    def _deliver(self, event: dict) -> None:
        self.seq += 1
        self.received += 1
        item = (self.seq, json.dumps(event, ensure_ascii=False, separators=(",", ":")))
        if self.buffer:
            self.recent.append(item)
        for c in self.clients:
            try:
                c.queue.put_nowait(item)
            except asyncio.QueueFull:
                c.lost += 1
                self.lost += 1

    def subscribe(self, replay: int = 0) -> Client:
        c = Client()
        for item in list(self.recent)[-replay:] if replay > 0 else ():
            c.queue.put_nowait(item)
        self.clients.add(c)
        return c

    def unsubscribe(self, c: Client) -> None:
        self.clients.discard(c)

    def close(self) -> None:
        """End every stream (the server is stopping): each client gets None."""
        self.closed = True
        for c in list(self.clients):
            try:
                c.queue.put_nowait(None)
            except asyncio.QueueFull:
                c.queue.get_nowait()
                c.queue.put_nowait(None)

    def status(self) -> dict:
        return dict(clients=len(self.clients), received=self.received, lost_by_clients=self.lost)


class BusListener:
    """A SUB socket on the daemon's bus in a thread of its own; each valid event to hub.feed()."""

    def __init__(self, endpoint: str, hub: Hub) -> None:
        from alprd.sinks.bus import SequenceGaps

        self.endpoint = endpoint
        self.hub = hub
        self.gaps = SequenceGaps()
        self.skipped = 0
        self.last_event_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="web-bus", daemon=True)

    def start(self) -> "BusListener":
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def status(self) -> dict:
        return dict(endpoint=self.endpoint, missed=self.gaps.missed, skipped=self.skipped,
                    last_event_age_s=round(time.time() - self.last_event_at, 1) if self.last_event_at else None)

    def _run(self) -> None:
        import zmq

        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 100000)
        try:
            sock.connect(self.endpoint)
            sock.setsockopt(zmq.SUBSCRIBE, b"")
        except zmq.ZMQError as exc:
            log.error("web: cannot subscribe to the bus %s (%s): no live events", self.endpoint, exc)
            sock.close()
            return
        log.info("web: live events from %s", self.endpoint)
        try:
            while not self._stop.is_set():
                if not sock.poll(250):
                    continue
                self._handle(sock.recv_multipart())
        finally:
            sock.close()

    def _handle(self, frames: list[bytes]) -> None:
        from alprd.derived_events import event_from_json

        if len(frames) not in (2, 3):
            self.skipped += 1
            return
        if len(frames) == 3:
            try:
                self.gaps.observe(frames[0], frames[2])
            except Exception:  # noqa: BLE001 - a bad sequence frame costs nothing
                pass
        try:
            event = event_from_json(frames[1])
            d = event.to_dict()
        except Exception as exc:  # noqa: BLE001 - any publisher can send anything: skip, count
            self.skipped += 1
            if self.skipped in (1, 10, 100, 1000) or self.skipped % 10000 == 0:
                log.warning("web: skipped %d malformed bus message(s) (latest: %s: %s)", self.skipped,
                            type(exc).__name__, str(exc)[:120])
            return
        had_crop_field = "crop_path" in d
        crop = d.pop("crop_path", None)
        if had_crop_field:
            d["has_crop"] = bool(crop)
            if crop:
                self.hub.remember_crop(d["event_id"], crop)
        self.last_event_at = time.time()
        self.hub.feed(d)
