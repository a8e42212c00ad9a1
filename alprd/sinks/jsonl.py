"""JSON-lines file sink: one event per line in the one JSON encoding (PlateEvent.to_json).

Lines are written whole and flushed to the OS at once (a reader tailing the file never sees half
a line unless the machine dies); flush() also fsyncs. Append mode, so restarts add to the file.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from alprd.derived_events import ALL_KINDS
from alprd.events import PlateEvent

log = logging.getLogger(__name__)


class JsonlSink:
    name = "jsonl"

    def __init__(self, path: str | os.PathLike, *, kinds: tuple[str, ...] = ALL_KINDS) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.kinds = kinds
        self._lock = threading.Lock()
        self._file = open(self.path, "a", encoding="utf-8")
        self.written = 0

    def publish(self, event: PlateEvent) -> None:
        if event.kind not in self.kinds:
            return
        line = event.to_json() + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            self.written += 1

    def flush(self, timeout: float | None = None) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file.closed:
                return
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
