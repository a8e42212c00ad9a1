"""Logging set-up: journald-friendly when run under systemd, plain otherwise, repeats rate-limited.

Under systemd (``$JOURNAL_STREAM`` or ``$INVOCATION_ID`` set) each line is ``<N>logger: message``:
journald reads the ``<N>`` syslog priority (``journalctl -p warning`` works) and adds its own
timestamps. By hand, lines carry a timestamp and the level name.

The daemon logs state changes once (a camera disconnects, a sink starts failing, the worker
restarts), but a flapping camera or a crash-looping child still repeats itself; ``RepeatFilter``
lets the first ``burst`` messages of a kind through per ``window_s`` and swallows the rest,
counting them; the next message of that kind after the window says how many were suppressed.
A "kind" is the logger, the level, the process, the message template (numbers ignored) and its
string arguments (camera ids, URLs): the same complaint about another camera is not a repeat.
"""
from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time

_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7,
}


class _JournalFormatter(logging.Formatter):
    """`<N>` priority prefixes that journald turns into levels; journald adds the timestamps."""

    def format(self, record: logging.LogRecord) -> str:
        prio = _SYSLOG_PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        # a traceback spans lines: journald would give the continuation lines priority 6
        return "\n".join(f"<{prio}>{record.name}: {line}" if i == 0 else f"<{prio}>  {line}"
                         for i, line in enumerate(text.splitlines() or [""]))


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class RepeatFilter(logging.Filter):
    """Let `burst` records of one kind through per `window_s`; count and then report the rest."""

    def __init__(self, burst: int = 5, window_s: float = 60.0, clock=time.monotonic) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self.clock = clock
        self._seen: dict[tuple, list] = {}  # key -> [window start, passed, suppressed]
        self._lock = threading.Lock()

    @staticmethod
    def key(record: logging.LogRecord) -> tuple:
        args = record.args if isinstance(record.args, tuple) else ()
        # A child's records arrive formatted (args already merged): numbers are not what makes
        # a message different, its process (e.g. decoder:gate) and its words are.
        return (record.name, record.levelno, getattr(record, "processName", ""),
                _NUMBER.sub("N", str(record.msg)), tuple(a for a in args if isinstance(a, str)))

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True  # debugging output is asked for; never thin it
        now = self.clock()
        k = self.key(record)
        with self._lock:
            state = self._seen.get(k)
            if state is None or now - state[0] >= self.window_s:
                suppressed = state[2] if state else 0
                self._seen[k] = [now, 1, 0]
                if len(self._seen) > 2000:  # forget old kinds
                    cutoff = now - self.window_s
                    self._seen = {kk: v for kk, v in self._seen.items() if v[0] >= cutoff or kk == k}
                if suppressed:
                    record.msg = f"{record.getMessage()} [{suppressed} similar message(s) suppressed]"
                    record.args = None
                return True
            if state[1] < self.burst:
                state[1] += 1
                return True
            state[2] += 1
            return False


def under_systemd() -> bool:
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def setup_logging(level: str = "INFO", *, rate_limit: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if under_systemd():
        handler.setFormatter(_JournalFormatter("%(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if rate_limit:
        handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    try:
        root.setLevel(level.upper())
    except ValueError:
        root.setLevel(logging.INFO)
        logging.getLogger(__name__).warning("unknown log level %r, using INFO", level)
