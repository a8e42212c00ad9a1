"""Reading the daemon's stats.json: is it running, and how old are its figures.

Shared by `alprd status` and the web console's camera panel, so both say the same thing from
the same file. Plain data: no alprd imports.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

FRESH_S = 20.0  # the daemon rewrites stats.json every 5 s; older than this = not running


def alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError, OverflowError):
        return False
    except PermissionError:
        return True  # exists, owned by another user (the alprd service user)
    return True


def assess(s: dict, now: float | None = None, touched: float | None = None) -> dict:
    """Add 'age_s' and 'running' to a snapshot. `touched` is the file's mtime: a daemon that
    cannot rewrite the file (full disk) still touches it, so it counts as running, and
    'figures_age_s' says how old its figures are."""
    now = time.time() if now is None else now
    written = s.get("written_at")
    written = written if isinstance(written, (int, float)) and not isinstance(written, bool) else None
    alive_at = max(t for t in (written, touched) if t is not None) if (written or touched) else None
    age = now - alive_at if alive_at is not None else None
    running = (not s.get("final") and age is not None and age < FRESH_S and alive(s.get("pid")))
    out = {**s, "age_s": round(age, 1) if age is not None else None, "running": running}
    if written is not None and running and now - written >= FRESH_S:
        out["figures_age_s"] = round(now - written, 1)
    return out


def read_assessed(path: str | os.PathLike) -> dict | None:
    """The assessed snapshot at `path`; None when there is no file or it is not a JSON object."""
    p = Path(path)
    try:
        s = json.loads(p.read_text(encoding="utf-8"))
        touched = p.stat().st_mtime
    except (OSError, ValueError):
        return None
    return assess(s, touched=touched) if isinstance(s, dict) else None
