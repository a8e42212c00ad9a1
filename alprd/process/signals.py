"""Signal handlers that only record: the owner's loop acts on what was recorded (gunicorn's
arbiter does the same), and the previous handlers come back on the way out (as uvicorn's do).

Off the main thread (a daemon embedded in a test thread) nothing is installed: Python allows
handlers only there, and the embedding code stops its daemon another way."""
from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_AND_RELOAD = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@contextmanager
def recorded(inbox: list[int], signals: tuple[int, ...] = STOP_AND_RELOAD) -> Iterator[None]:
    """While inside, each of `signals` appends its number to `inbox` and does nothing else."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        inbox.append(signum)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def drain(inbox: list[int]) -> list[int]:
    """Take what `inbox` holds, emptying it in place: the installed handler keeps appending to
    this very list, so rebinding the owner's name to a new list would lose every later signal."""
    taken = inbox[:]
    del inbox[:len(taken)]
    return taken
