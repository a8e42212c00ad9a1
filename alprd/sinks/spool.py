"""A durable on-disk queue: append-only JSON-lines segments plus an atomically replaced ack file.

Why: an event is acknowledged to the pipeline once it is on disk, and removed only once the
database has it, so a dead database or a `kill -9` loses nothing. Replay after a crash may repeat
records the database already committed (commit, then crash before the ack is written); consumers
must be idempotent (the SQL sink inserts ON CONFLICT DO NOTHING by event_id).

Layout of the directory: ``seg-<n>.jsonl`` (n increasing; one record per line, fsync'd per append),
``ack.json`` ({"segment": n, "offset": bytes} = everything before it is consumed) and ``lock``
(flock, so two daemons never share a spool). A torn last line (crash mid-write) is cut on open.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SEGMENT_BYTES = 16 * 1024 * 1024


class SpoolError(RuntimeError):
    pass


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Thread-safe: any thread may append(); one consumer thread reads and acks."""

    def __init__(self, directory: str | os.PathLike, *, segment_bytes: int = SEGMENT_BYTES,
                 fsync: bool = True) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._segment_bytes = segment_bytes
        self._fsync = fsync
        self._lock = threading.Lock()
        self._lockfile = open(self.dir / "lock", "a+")
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lockfile.close()
            raise SpoolError(f"spool {self.dir} is in use by another process") from None
        self._ack = self._load_ack()
        segs = self._segments()
        if segs and segs[-1] >= self._ack.segment:
            self._seg = segs[-1]
            self._repair_tail(self._seg_path(self._seg))
        else:
            self._seg = max(self._ack.segment, 1)
        self._file = open(self._seg_path(self._seg), "ab")
        self._end = Position(self._seg, self._file.tell())
        self.appended_records = 0  # by this process: lets a consumer wait for "n more"
        if self._ack > self._end:  # ack file ahead of the data (files removed by hand): start over
            log.warning("spool %s: ack beyond the data, resetting it", self.dir)
            self._ack = Position(self._seg, 0)
            self._write_ack(self._ack)
        self._drop_consumed_segments()

    # --- files ---------------------------------------------------------------------------------
    def _seg_path(self, n: int) -> Path:
        return self.dir / f"seg-{n:012d}.jsonl"

    def _segments(self) -> list[int]:
        out = []
        for p in self.dir.glob("seg-*.jsonl"):
            try:
                out.append(int(p.stem[4:]))
            except ValueError:
                continue
        return sorted(out)

    def _load_ack(self) -> Position:
        try:
            d = json.loads((self.dir / "ack.json").read_text())
            return Position(int(d["segment"]), int(d["offset"]))
        except FileNotFoundError:
            segs = self._segments()
            return Position(segs[0] if segs else 1, 0)
        except (ValueError, KeyError, TypeError) as exc:
            raise SpoolError(f"spool {self.dir}: unreadable ack.json ({exc}); "
                             "move it aside to replay the whole spool") from None

    def _write_ack(self, pos: Position) -> None:
        tmp = self.dir / "ack.json.tmp"
        with open(tmp, "w") as f:
            json.dump({"segment": pos.segment, "offset": pos.offset}, f)
            f.flush()
            if self._fsync:
                os.fsync(f.fileno())
        os.replace(tmp, self.dir / "ack.json")
        if self._fsync:
            _fsync_dir(self.dir)

    @staticmethod
    def _repair_tail(path: Path) -> None:
        """Cut a partial last line left by a crash in the middle of a write."""
        size = path.stat().st_size
        if size == 0:
            return
        with open(path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            pos, chunk = size, 4096
            keep = 0
            while pos > 0:
                start = max(0, pos - chunk)
                f.seek(start)
                i = f.read(pos - start).rfind(b"\n")
                if i >= 0:
                    keep = start + i + 1
                    break
                pos = start
            log.warning("spool %s: cutting %d bytes of a torn record", path, size - keep)
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())

    def _drop_consumed_segments(self) -> None:
        for n in self._segments():
            if n < self._ack.segment:
                self._seg_path(n).unlink(missing_ok=True)

    # --- producer side -------------------------------------------------------------------------
    def append(self, records: list[str]) -> Position:
        """Write records (one line each, no newlines inside) durably; returns the end position."""
        data = b"".join(r.encode("utf-8") + b"\n" for r in records)
        with self._lock:
            if self._file.closed:
                raise SpoolError(f"spool {self.dir} is closed")
            if self._end.offset > 0 and self._end.offset + len(data) > self._segment_bytes:
                self._file.close()
                self._seg += 1
                self._file = open(self._seg_path(self._seg), "ab")
                if self._fsync:
                    _fsync_dir(self.dir)
            self._file.write(data)
            self._file.flush()
            if self._fsync:
                os.fdatasync(self._file.fileno())
            self._end = Position(self._seg, self._file.tell())
            self.appended_records += len(records)
            return self._end

    # --- consumer side -------------------------------------------------------------------------
    @property
    def end(self) -> Position:
        with self._lock:
            return self._end

    @property
    def acked(self) -> Position:
        with self._lock:
            return self._ack

    def read(self, start: Position, max_records: int) -> tuple[list[str], Position]:
        """Up to max_records complete records from start; returns them and the position after."""
        out: list[str] = []
        pos = start
        end = self.end
        while len(out) < max_records and pos < end:
            before = pos
            path = self._seg_path(pos.segment)
            limit = end.offset if pos.segment == end.segment else None
            try:
                with open(path, "rb") as f:
                    f.seek(pos.offset)
                    while len(out) < max_records and (limit is None or f.tell() < limit):
                        line = f.readline()
                        if not line.endswith(b"\n"):
                            break
                        out.append(line[:-1].decode("utf-8", errors="replace"))
                    pos = Position(pos.segment, f.tell())
            except FileNotFoundError:
                pass
            if len(out) < max_records and pos.segment < end.segment and (limit is None):
                nxt = [n for n in self._segments() if n > pos.segment]
                pos = Position(nxt[0] if nxt else end.segment, 0)
            if pos == before:  # nothing readable (a file removed under us): do not spin
                break
        return out, pos

    def ack(self, pos: Position) -> None:
        """Everything before pos is consumed: persist that and drop finished segments."""
        with self._lock:
            if pos <= self._ack:
                return
            self._ack = pos
            self._write_ack(pos)
        self._drop_consumed_segments()

    def pending_bytes(self) -> int:
        """Approximate bytes not yet acknowledged (for metrics and logs)."""
        ack, end = self.acked, self.end
        total = 0
        for n in self._segments():
            if n < ack.segment or n > end.segment:
                continue
            size = end.offset if n == end.segment else self._seg_path(n).stat().st_size
            total += size - (ack.offset if n == ack.segment else 0)
        return max(total, 0)

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()
        if not self._lockfile.closed:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()
