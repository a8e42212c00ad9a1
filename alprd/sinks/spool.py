"""A durable on-disk queue: append-only JSON-lines segments plus an atomically replaced ack file.

Why: an event is acknowledged to the pipeline once it is on disk, and removed only once the
database has it, so a dead database or a `kill -9` loses nothing. Replay after a crash may repeat
records the database already committed (commit, then crash before the ack is written); consumers
must be idempotent (the SQL sink inserts ON CONFLICT DO NOTHING by event_id).

Layout of the directory: ``seg-<n>.jsonl`` (n increasing; one record per line, fsync'd per append),
``ack.json`` ({"segment": n, "offset": bytes} = everything before it is consumed) and ``lock``
(flock, so two daemons never share a spool). A torn last line (crash mid-write) is cut on open.
An append is all or nothing: a write the disk refuses (full, read-only) is cut back off the file,
so a record reported as not spooled never turns up later. A damaged ack file (empty, garbled,
a negative offset) is logged and the spool replayed from its first segment (replays are harmless).
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
        ack = self._ack
        if segs and (ack.segment > segs[-1] or (
                ack.segment in segs and ack.offset > self._seg_path(ack.segment).stat().st_size)):
            log.warning("spool %s: ack.json points past the data of its segment; replaying the "
                        "spool from segment %d", self.dir, segs[0])
            self._ack = Position(segs[0], 0)
        if segs and segs[-1] >= self._ack.segment:
            self._seg = segs[-1]
            self._repair_tail(self._seg_path(self._seg))
        else:
            self._seg = max(self._ack.segment, 1)
        self._fd: int | None = self._open_segment(self._seg)
        self._end = Position(self._seg, os.fstat(self._fd).st_size)
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

    def _open_segment(self, n: int) -> int:
        return os.open(self._seg_path(n), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)

    def _load_ack(self) -> Position:
        segs = self._segments()
        start = Position(segs[0] if segs else 1, 0)
        try:
            text = (self.dir / "ack.json").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return start
        try:
            d = json.loads(text)
            seg, off = d["segment"], d["offset"]
            if not all(type(v) is int and v >= 0 for v in (seg, off)):
                raise ValueError(f"segment and offset must be whole numbers >= 0, got {seg!r}, {off!r}")
            return Position(seg, off)
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            why = "empty" if not text.strip() else f"{type(exc).__name__}: {str(exc)[:200]}"
            log.warning("spool %s: damaged ack.json (%s); replaying the spool from segment %d "
                        "(records already written are written again harmlessly)", self.dir, why, start.segment)
            return start

    def _write_ack(self, pos: Position) -> None:
        tmp = self.dir / "ack.json.tmp"
        try:
            with open(tmp, "w") as f:
                json.dump({"segment": pos.segment, "offset": pos.offset}, f)
                f.flush()
                if self._fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, self.dir / "ack.json")
        except OSError:
            tmp.unlink(missing_ok=True)  # the old ack.json stands: a restart replays more, harmlessly
            raise
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
        """Write records (one line each, no newlines inside) durably; returns the end position.
        All or nothing: on OSError (disk full...) none of them is in the spool, now or later."""
        data = b"".join(r.encode("utf-8") + b"\n" for r in records)
        with self._lock:
            if self._fd is None:
                raise SpoolError(f"spool {self.dir} is closed")
            if self._end.offset > 0 and self._end.offset + len(data) > self._segment_bytes:
                fd = self._open_segment(self._seg + 1)
                os.close(self._fd)
                self._fd, self._seg = fd, self._seg + 1
                self._end = Position(self._seg, os.fstat(fd).st_size)
                if self._fsync:
                    _fsync_dir(self.dir)
            fd, end = self._fd, self._end
            try:
                if os.fstat(fd).st_size != end.offset:  # the remains of a failed append
                    os.ftruncate(fd, end.offset)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                if self._fsync:
                    os.fdatasync(fd)
            except OSError:
                try:
                    os.ftruncate(fd, end.offset)
                except OSError:  # cut again before the next append (the size check above)
                    pass
                raise
            self._end = Position(self._seg, end.offset + len(data))
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
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
        if not self._lockfile.closed:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()
