"""The sd_notify protocol: one datagram per message to $NOTIFY_SOCKET. No systemd library needed,
and a no-op when not started by systemd (so the daemon runs the same by hand and in tests).

``Notifier`` speaks the protocol; ``ServiceNotifier`` decides what the daemon says and when:

- ``STATUS=`` while starting (loading the model), then every few seconds while running (cameras
  up/down, processed fps, open tracks, plates) — what ``systemctl status alprd`` shows;
- ``READY=1`` once the first frames have come back from the inference worker, i.e. the whole
  pipeline works. A host whose cameras are all unreachable must still come up (restarting the
  service would not bring a camera back), so READY=1 is also sent after a grace period with a
  STATUS saying that no frames flow yet;
- ``WATCHDOG=1`` every half $WATCHDOG_USEC from the main loop, but only while the daemon reports
  itself healthy (a worker holding frames without answering is not): then systemd's watchdog
  fires and restarts the service;
- ``RELOADING=1`` (with MONOTONIC_USEC) and READY=1 around a SIGHUP reload; ``STOPPING=1``.
"""
from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None):
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self._addr = "\0" + addr[1:] if addr.startswith("@") else addr   # abstract namespace
        self._sock: socket.socket | None = None
        if self._addr:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._failed = False

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> bool:
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode(), self._addr)
            self._failed = False
            return True
        except OSError as exc:
            if not self._failed:   # log the state change once, not every watchdog tick
                log.warning("sd_notify to %s failed: %s", self._addr.lstrip("\0"), exc)
                self._failed = True
            return False

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *( [f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def reloading(self) -> bool:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval_s() -> float | None:
    """Half of WatchdogSec (systemd passes it as $WATCHDOG_USEC), or None when not watched."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2e6
    except ValueError:
        return None


class ServiceNotifier:
    """What the daemon tells systemd, and when (see the module doc). Every method is a no-op
    without $NOTIFY_SOCKET, so the daemon calls them unconditionally."""

    def __init__(self, notifier: Notifier | None = None, watchdog_s: float | None = None, *,
                 ready_grace_s: float = 20.0) -> None:
        if notifier is None:
            notifier = Notifier()
            watchdog_s = watchdog_interval_s() if watchdog_s is None else watchdog_s
        self.notifier = notifier if notifier.enabled else None
        self.watchdog_s = watchdog_s if self.notifier is not None else None
        self.ready_grace_s = ready_grace_s
        self.ready_sent = False
        self._running_since: float | None = None
        self._next_ping = 0.0
        self._withheld = False
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return self.notifier is not None

    def _send(self, *fields: str) -> None:
        if self.notifier is not None:
            self.notifier.send(*fields)

    def status(self, text: str) -> None:
        if not self._stopping:
            self._send(f"STATUS={text}")

    def running(self, now: float | None = None) -> None:
        """Every child is up (the model loaded): the grace period for READY starts."""
        self._running_since = time.monotonic() if now is None else now

    def frames_flowing(self, status: str) -> None:
        if not self.ready_sent:
            self.ready_sent = True
            self._send("READY=1", f"STATUS={status}")

    def tick(self, now: float, healthy: bool, status: str | None = None) -> None:
        """Called from the main loop: READY after the grace period, watchdog pings while healthy."""
        if (not self.ready_sent and not self._stopping and self._running_since is not None
                and now - self._running_since >= self.ready_grace_s):
            self.ready_sent = True
            self._send("READY=1", f"STATUS={status or 'running; no frames from any camera yet'}")
        if self.watchdog_s and now >= self._next_ping:
            if healthy:
                self._next_ping = now + self.watchdog_s
                self._withheld = False
                self._send("WATCHDOG=1")
            else:
                self._withheld = True

    @property
    def pings_withheld(self) -> bool:
        return self._withheld

    def reloading(self) -> None:
        if self.notifier is not None:
            self.notifier.reloading()

    def reloaded(self, status: str) -> None:
        self._send("READY=1", f"STATUS={status}")

    def stopping(self, status: str | None = None) -> None:
        self._stopping = True
        self._send("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def close(self) -> None:
        if self.notifier is not None:
            self.notifier.close()
