"""Waiting for a condition in tests: polled, with a deadline that is only a hang guard."""
from __future__ import annotations

import time

# Far above any realistic duration, on a loaded machine too: it only turns a hang into a failure
# (60 s was hit by tests that pass alone while one core was kept busy).
HANG_GUARD_S = 300.0


def wait_until(cond, timeout: float = HANG_GUARD_S, interval: float = 0.02) -> bool:
    """True once cond() is true; False if the deadline passed first."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
