"""A process tree's figures from /proc (Linux), shared by the pipeline and soak benchmarks."""
from __future__ import annotations

import os


def status(pid: int) -> dict[str, str]:
    """/proc/<pid>/status as a dict (raises OSError once the process is gone)."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def rss_bytes(pid: int) -> int | None:
    try:
        return int(status(pid).get("VmRSS", "0 kB").split()[0]) * 1024
    except (OSError, ValueError):
        return None


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
            except OSError:
                continue
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in _children(p):
            out.append(c)
            todo.append(c)
    return out
