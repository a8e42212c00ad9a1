"""A real full disk for tests: a small tmpfs mounted by the test (root only), filled on demand.

ENOSPC from a real filesystem, not a mock: `TinyFs(path)` mounts `size` bytes at path; `fill()`
writes a filler file until the kernel refuses; `free()` deletes it. `reason` says why it could
not be arranged (not root, mount refused) and the test skips with it.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path


class TinyFs:
    def __init__(self, path: Path, size: str = "1m") -> None:
        self.path = Path(path)
        self.mounted = False
        self.reason: str | None = None
        self.path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            self.reason = "not root: cannot mount a small tmpfs"
            return
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(self.path)],
                             capture_output=True, text=True, timeout=20)
        if res.returncode != 0:
            self.reason = f"mount failed: {res.stderr.strip()}"
            return
        self.mounted = True
        self.filler = self.path / ".filler"

    def fill(self) -> None:
        """Write until the filesystem is full (the kernel's ENOSPC)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for chunk in (65536, 4096, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError:
                    continue
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, timeout=20)
            self.mounted = False

    def __enter__(self) -> "TinyFs":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
