"""Whether the daemon is healthy: what its systemd watchdog pings stand for.

Unhealthy when the inference worker holds frames without answering for stall_s (a stuck worker:
with a systemd watchdog that is one WatchdogSec, so the pings stop and systemd restarts the
service), or, once running, when the worker has not been ready for longer than its ready timeout
(crash-looping). Each change is logged once.
"""
from __future__ import annotations

import logging

log = logging.getLogger("alprd.service.daemon")

STALL_S = 60.0  # without a watchdog: a worker silent this long with frames in flight is stuck (reported only)


class Health:
    def __init__(self, watchdog_s: float | None, now: float) -> None:
        self.watchdog_s = watchdog_s
        self.stall_s = 2 * watchdog_s if watchdog_s else STALL_S
        self.progress_at = now                     # latest results, or when frames went in flight
        self.worker_down_since: float | None = now
        self.unhealthy: str | None = None          # why, while unhealthy

    def progress(self, now: float) -> None:
        self.progress_at = now

    def worker_up(self) -> None:
        self.worker_down_since = None

    def worker_down(self, now: float) -> None:
        self.worker_down_since = now

    def check(self, now: float, *, in_flight: int, running: bool, ready_timeout_s: float) -> None:
        why = None
        if in_flight and now - self.progress_at > self.stall_s:
            why = (f"the inference worker has not answered for {now - self.progress_at:.0f} s "
                   f"with {in_flight} frame(s) in flight")
        elif self.worker_down_since is not None and running and now - self.worker_down_since > ready_timeout_s:
            why = f"the inference worker has not been ready for {now - self.worker_down_since:.0f} s"
        if why and not self.unhealthy:
            log.error("unhealthy: %s%s", why, "; withholding watchdog pings" if self.watchdog_s else "")
        elif self.unhealthy and not why:
            log.info("healthy again")
        self.unhealthy = why
