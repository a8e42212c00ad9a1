"""Saving the best crop of each final event: <state_dir>/crops/YYYY-MM-DD/<camera>_<track>_<id>.jpg.

The date folder is the event's last_seen date in UTC. Files are written to a temporary name and
renamed, so a reader never sees half a JPEG. A disk error is logged (once per failure streak)
and the event goes on without a crop: a full disk must not cost events.

Retention (storage.crop_retention_days, storage.crop_max_mb) is applied by prune(), which the
daemon calls at start and then about hourly: whole day folders older than the retention go
first, then the oldest files until the total fits the size cap.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
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
        self._failing = False

    def path_for(self, event: PlateEvent) -> Path:
        day = event.last_seen.astimezone(timezone.utc).strftime("%Y-%m-%d")
        return self.root / day / f"{event.camera_id}_{event.track_id}_{event.event_id[:8]}.jpg"

    def attach(self, event: PlateEvent, jpeg: bytes | None) -> PlateEvent:
        """Save `jpeg` for a final event and return the event with crop_path set (or unchanged)."""
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
            log.info("saving crops under %s again", self.root)
            self._failing = False
        self.saved += 1
        return dataclasses.replace(event, crop_path=str(path))

    def prune(self, now: float | None = None) -> int:
        """Apply the retention limits; returns how many files were removed."""
        if not self.root.is_dir() or (self.retention_days is None and self.max_bytes is None):
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
            if self.max_bytes is not None:
                files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.root.glob("*/*.jpg")]
                total = sum(size for _, size, _ in files)
                for _, size, p in sorted(files):
                    if total <= self.max_bytes:
                        break
                    p.unlink(missing_ok=True)
                    total -= size
                    removed += 1
                for day in self.root.iterdir():
                    if day.is_dir() and not any(day.iterdir()):
                        day.rmdir()
        except OSError as exc:
            log.warning("crop retention under %s failed: %s", self.root, exc)
        if removed:
            log.info("crop retention removed %d files", removed)
        return removed
