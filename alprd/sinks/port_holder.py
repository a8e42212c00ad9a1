"""Who holds a listening TCP port: for a clear "address in use" line instead of a bare errno.

Linux only, from /proc: the listening socket's inode in /proc/net/tcp{,6}, then the process whose
open files include that socket. Another user's processes cannot be looked into without
privileges (the service runs as `alprd`): then the line says so rather than guessing.
"""
from __future__ import annotations

import os
from pathlib import Path

_LISTEN = "0A"


def tcp_port(endpoint: str) -> int | None:
    """5556 from tcp://127.0.0.1:5556 (None for other transports or a wildcard port)."""
    scheme, _, rest = endpoint.partition("://")
    if scheme != "tcp":
        return None
    port = rest.rsplit(":", 1)[-1]
    return int(port) if port.isdigit() else None


def _listening_inodes(port: int, proc: Path) -> set[str]:
    found = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (proc / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == _LISTEN and int(f[1].rsplit(":", 1)[1], 16) == port:
                found.add(f[9])
    return found


def holder_of(port: int, proc: Path = Path("/proc")) -> str | None:
    """"pid N (command line)" of the process listening on `port`, "a process of another user"
    when it cannot be seen, None when nothing listens on it (here)."""
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    targets = {f"socket:[{i}]" for i in inodes}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = os.listdir(entry / "fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(entry / "fd" / fd) in targets:
                    return f"pid {entry.name} ({_cmdline(entry)})"
            except OSError:
                continue
    return "a process of another user (run as root to see which)"


def _cmdline(entry: Path) -> str:
    try:
        args = (entry / "cmdline").read_bytes().split(b"\0")
        text = " ".join(" ".join(a.decode(errors="replace").split()) for a in args if a)
    except OSError:
        text = ""
    return (text[:160] + "...") if len(text) > 160 else (text or "?")
