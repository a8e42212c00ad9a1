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


def wait_for_text(path, text: str, proc, timeout: float = HANG_GUARD_S) -> str:
    """The file's text once it holds `text` (a command's stderr, say); fails early with what the
    file holds if the process `proc` exits first."""
    done = wait_until(lambda: text in path.read_text(errors="replace") or proc.poll() is not None,
                      timeout, interval=0.05)
    got = path.read_text(errors="replace")
    if done and text in got:
        return got
    raise AssertionError(f"{text!r} never came; the file holds: {got}")
