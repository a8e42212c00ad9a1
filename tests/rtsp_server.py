"""A real RTSP server on loopback for tests: GStreamer's, run by the system python3 + gi.

`RtspServer(video).start()` serves the file at rtsp://127.0.0.1:PORT/cam; `stop()` kills it and
`start()` again brings it back on the same port (a camera reboot); `pause()`/`resume()` freeze
the process (SIGSTOP/SIGCONT), which is what a hung camera looks like to a client. Tests that
need it call `require_gst_rtsp()` (or use the `rtsp_server` fixture) and are skipped, with the
reason, where GStreamer's RTSP server or its Python bindings are missing.
"""
from __future__ import annotations

import functools
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from benchmarks.ports import free_port

SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("gst_rtsp_serve.py")
_PROBE = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
          "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
          "missing = [e for e in ('qtdemux', 'h264parse', 'rtph264pay') if not Gst.ElementFactory.find(e)];"
          "print(' '.join(missing))")


def _clean_env() -> dict[str, str]:
    """The system python must not see our interpreter's paths."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


@functools.lru_cache(maxsize=1)
def gst_rtsp_missing() -> str | None:
    """None when the server can run here, else why not (one line)."""
    if not os.path.exists(SYSTEM_PYTHON):
        return f"{SYSTEM_PYTHON} not found"
    try:
        res = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True,
                             timeout=30, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["?"])[-1]
        return f"GStreamer RTSP server bindings unavailable ({last}); run scripts/install-test-deps.sh"
    if res.stdout.strip():
        return f"GStreamer elements missing: {res.stdout.strip()}; run scripts/install-test-deps.sh"
    return None


def require_gst_rtsp() -> None:
    why = gst_rtsp_missing()
    if why:
        pytest.skip(why)


class RtspServer:
    def __init__(self, video: str | Path, port: int | None = None, mount: str = "/cam"):
        self.video = str(video)
        self.port = port or free_port()
        self.mount = mount
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    def start(self, timeout: float = 15.0) -> "RtspServer":
        if self.proc is not None:
            raise RuntimeError("already running")
        deadline = time.monotonic() + timeout
        while True:  # the port may linger for a moment after a stop
            self.proc = subprocess.Popen([SYSTEM_PYTHON, str(SCRIPT), self.video, str(self.port), self.mount],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_clean_env())
            line = self._ready_line(deadline)
            if line == "READY":
                return self
            err = self._reap()
            if time.monotonic() > deadline or "cannot listen" not in err:
                raise RuntimeError(f"RTSP server did not start: {err.strip() or line or 'timeout'}")
            time.sleep(0.1)

    def _ready_line(self, deadline: float) -> str:
        assert self.proc and self.proc.stdout
        ready, _, _ = select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        return self.proc.stdout.readline().decode().strip() if ready else ""

    def _reap(self) -> str:
        proc, self.proc = self.proc, None
        if proc is None:
            return ""
        if proc.poll() is None:
            proc.kill()
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        return err.decode(errors="replace")

    def stop(self) -> None:
        """Kill the server (clients see their connection close)."""
        if self.proc is not None:
            self.resume()
            self.proc.kill()
            self._reap()

    def pause(self) -> None:
        """Freeze the server: connections stay open but no data flows."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> "RtspServer":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture
def rtsp_server(rtsp_video):
    """A started RtspServer serving the `rtsp_video` fixture's file; stopped after the test."""
    require_gst_rtsp()
    with RtspServer(rtsp_video) as server:
        yield server
