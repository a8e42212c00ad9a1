"""Helpers of the service tests: a real datagram socket standing in for systemd's notify socket,
configs with metrics, HTTP scraping."""
from __future__ import annotations

import socket
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from helpers_daemon import write_config


class NotifySocket:
    """What systemd listens on for Type=notify services: an AF_UNIX datagram socket. Every
    datagram is kept with its arrival time (monotonic)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def texts(self) -> list[str]:
        return [m for _, m in list(self.messages)]

    def times_of(self, prefix: str) -> list[float]:
        return [t for t, m in list(self.messages) if any(line.startswith(prefix) for line in m.splitlines())]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def service_config(path: Path, cameras: list[dict], *, state_dir: Path, weights: Path,
                   metrics: bool = False, **kw) -> Path:
    write_config(path, cameras, state_dir=state_dir, weights=weights, **kw)
    data = yaml.safe_load(path.read_text())
    if metrics:
        data["metrics"] = {"enabled": True, "bind": "127.0.0.1", "port": 0}
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def scrape(url: str) -> dict[str, float]:
    """The endpoint's samples as {'name{labels}': value} (the text exposition format)."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out
