"""The main loop's periodic duties, each with its own interval, run from the loop (never from a
thread or a signal handler). A new periodic duty is one more Timers entry in Daemon.__init__."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class _Every:
    interval_s: float
    action: Callable[[float], None]   # called with the loop's monotonic now
    due_at: float = 0.0               # 0: due at the first turn


class Timers:
    def __init__(self) -> None:
        self._entries: list[_Every] = []

    def every(self, interval_s: float, action: Callable[[float], None]) -> None:
        self._entries.append(_Every(interval_s, action))

    def run_due(self, now: float) -> None:
        for e in self._entries:
            if now >= e.due_at:
                e.due_at = now + e.interval_s
                e.action(now)
