"""Saving the best crop of each final event: <state_dir>/crops/YYYY-MM-DD/<camera>_<track>_<id>.jpg.

The date folder is the event's last_seen date in UTC. Files are written to a temporary name and
renamed, so a reader never sees half a JPEG. A disk error is logged (once per failure streak)
and the event goes on without a crop: a full disk must not cost events.

Retention (storage.crop_retention_days, storage.crop_max_mb) is applied by prune(), which the
daemon calls at start and then about hourly: whole day folders older than the retention go
first, then the oldest files (oldest day first) until the total fits the size cap. Between two
prunes the store counts the bytes it writes; once a size cap is passed it prunes at once, down to
90 % of the cap, so a busy hour cannot overrun it and pruning does not run on every crop.
The total (bytes, files) is kept for metrics.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from alprd.events import PlateEvent

log = logging.getLogger(__name__)


class CropStore:
    def __init__(self, root: str | os.PathLike, *, enabled: bool = True,
                 retention_days: float | None = None, max_mb: float | None = None) -> None:
        self.root = Path(root)
        self.enabled = enabled
        self.retention_days = retention_days
        self.max_bytes = int(max_mb * 1024 * 1024) if max_mb else None
        self.saved = 0
        self.failed = 0
        self.removed = 0          # files deleted by retention
        self.bytes = 0            # on disk under root, as of the latest prune plus what was saved since
        self.files = 0
        self._failing = False
        self._pruner: threading.Thread | None = None

    def path_for(self, event: PlateEvent) -> Path:
        day = event.last_seen.astimezone(timezone.utc).strftime("%Y-%m-%d")
        return self.root / day / f"{event.camera_id}_{event.track_id}_{event.event_id[:8]}.jpg"

    def attach(self, event: PlateEvent, jpeg: bytes | None = None) -> PlateEvent:
        """Save a final event's crop (`jpeg`, by default the one the tracker handed on in
        event.crop_jpeg) and return the event with crop_path set. The returned event never
        carries the JPEG bytes: sinks get the path, not the pixels."""
        jpeg = event.crop_jpeg if jpeg is None else jpeg
        if event.crop_jpeg is not None:
            event = dataclasses.replace(event, crop_jpeg=None)
        if not self.enabled or not jpeg or event.kind != "plate.final":
            return event
        path = self.path_for(event)
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                f.write(jpeg)
            os.replace(tmp, path)
        except OSError as exc:
            self.failed += 1
            if not self._failing:
                log.error("cannot save crops under %s (%s); events go on without crops", self.root,
                          exc.strerror or exc)
                self._failing = True
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return event
        if self._failing:
            log.info("saving crops under %s again (%d failed meanwhile)", self.root, self.failed)
            self._failing = False
        self.saved += 1
        self.bytes += len(jpeg)
        self.files += 1
        if self.max_bytes is not None and self.bytes > self.max_bytes:
            self.prune_async(target=int(self.max_bytes * 0.9))
        return dataclasses.replace(event, crop_path=str(path))

    def status(self) -> dict:
        return {"saved": self.saved, "failed": self.failed, "removed": self.removed,
                "bytes": self.bytes, "files": self.files, "failing": self._failing}

    def prune_async(self, target: int | None = None) -> bool:
        """Prune in a background thread (walking months of crops must not hold up the daemon's
        loop); target = a size to prune down to instead of the full retention. False if one runs."""
        if self._pruner is not None and self._pruner.is_alive():
            return False
        work = self.prune if target is None else (lambda: self._prune_size(target))
        self._pruner = threading.Thread(target=work, name="crop-retention", daemon=True)
        self._pruner.start()
        return True

    def wait_pruned(self, timeout: float | None = None) -> None:
        if self._pruner is not None:
            self._pruner.join(timeout)

    def prune(self, now: float | None = None) -> int:
        """Apply the retention limits; returns how many files were removed."""
        if not self.root.is_dir():
            return 0
        removed = 0
        try:
            if self.retention_days is not None:
                cutoff = datetime.fromtimestamp(now or time.time(), timezone.utc) - timedelta(days=self.retention_days)
                for day in sorted(self.root.iterdir()):
                    try:
                        end_of_day = datetime.strptime(day.name, "%Y-%m-%d").replace(tzinfo=timezone.utc) + timedelta(days=1)
                    except ValueError:
                        continue  # not ours
                    if end_of_day < cutoff:
                        removed += sum(1 for _ in day.glob("*.jpg"))
                        shutil.rmtree(day, ignore_errors=True)
        except OSError as exc:
            log.warning("crop retention under %s failed: %s", self.root, exc)
        self.removed += removed
        if removed:
            log.info("crop retention removed %d files older than %g days", removed, self.retention_days)
        return removed + self._prune_size(self.max_bytes)

    def _prune_size(self, target: int | None) -> int:
        """Count what is on disk; delete the oldest files until the total is at most target."""
        removed = 0
        try:
            files = []
            for p in self.root.glob("*/*.jpg"):
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                files.append((p.parent.name, st.st_mtime, st.st_size, p))
            total = sum(f[2] for f in files)
            count = len(files)
            if target is not None:
                for _, _, size, p in sorted(files):
                    if total <= target:
                        break
                    p.unlink(missing_ok=True)
                    total -= size
                    count -= 1
                    removed += 1
                for day in self.root.iterdir():
                    if day.is_dir() and not any(day.iterdir()):
                        day.rmdir()
            self.bytes, self.files = total, count
        except OSError as exc:
            log.warning("crop retention under %s failed: %s", self.root, exc)
        self.removed += removed
        if removed:
            log.info("crop retention removed %d files to stay under %.0f MB", removed,
                     (self.max_bytes or 0) / 1024 / 1024)
        return removed
