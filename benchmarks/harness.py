"""Writing configs and launching daemons: the one way tests/ and benchmarks/ do both.

- ``config(cameras, state_dir=..., **sections)``: a configuration as a dict, from one base (CPU
  device, stdout off, JSONL on, SQL and bus off, the state directory) with each given section
  merged in key by key; ``write_config(path, doc)`` writes it.
- ``env()`` / ``alprd_cmd()`` / ``run_alprd()``: the environment a child `alprd` gets (this
  checkout's package first on PYTHONPATH, unbuffered, no systemd variables inherited) and one
  command run to completion.
- ``Daemon``: `alprd run` in its own session, output to files (a pipe that nobody reads would
  stall it), ``wait_ready()`` on the daemon's own stats.json (state "running", its pid), not on
  a word in its log; ``wait_for()``, ``signal()``, ``wait()``, ``kill()`` (the whole session).
"""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
_SYSTEMD_VARS = ("JOURNAL_STREAM", "INVOCATION_ID", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def merge(base: dict, over: dict) -> dict:
    """base with over merged in: dicts key by key (recursively), anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def config(cameras: list[dict], *, state_dir: str | Path, weights: str | Path | None = None,
           **sections) -> dict:
    """The base every test and benchmark starts from, with `sections` (defaults=, inference=,
    tracking=, sinks=, storage=, metrics=...) merged in."""
    base = {
        "cameras": cameras,
        "inference": {"device": "cpu", **({"weights": str(weights)} if weights else {})},
        "sinks": {"stdout": {"enabled": False}, "jsonl": {"enabled": True, "path": "events.jsonl"},
                  "sql": {"enabled": False}, "bus": {"enabled": False}},
        "storage": {"state_dir": str(state_dir)},
    }
    return merge(base, {k: v for k, v in sections.items() if v is not None})


def write_config(path: str | Path, doc: dict) -> Path:
    path = Path(path)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def env(extra: dict[str, str] | None = None) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if k not in _SYSTEMD_VARS}
    e["PYTHONUNBUFFERED"] = "1"
    # a daemon run from its state folder imports this checkout even where alprd is not installed
    e["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in e.get("PYTHONPATH", "").split(os.pathsep) if p])
    e.update(extra or {})
    return e


def alprd_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "alprd", *args]


def run_alprd(*args: str, timeout: float = 60, cwd: str | Path | None = None,
              extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(alprd_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=env(extra_env), cwd=cwd)


class Daemon:
    """`alprd run -c config` in workdir. stdout goes to a file unless `stdout` is given (e.g.
    subprocess.PIPE, for a reader that timestamps events as they come)."""

    def __init__(self, config: str | Path, workdir: str | Path, *args: str, log_level: str = "INFO",
                 extra_env: dict[str, str] | None = None, stdout=None) -> None:
        self.config = Path(config)
        self.workdir = Path(workdir)
        self.out_path = self.workdir / "daemon.stdout"
        self.err_path = self.workdir / "daemon.stderr"
        self._out = open(self.out_path, "w") if stdout is None else None
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen(alprd_cmd("--log-level", log_level, "run", "-c", str(config), *args),
                                     stdout=self._out if stdout is None else stdout, stderr=self._err,
                                     text=True, env=env(extra_env), cwd=self.workdir, start_new_session=True)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def stats(self) -> dict | None:
        """The daemon's stats.json, or None before its first write (or mid-replace)."""
        state = yaml.safe_load(self.config.read_text()).get("storage", {}).get("state_dir", "var")
        path = Path(state) if Path(state).is_absolute() else self.workdir / state
        try:
            return json.loads((path / "stats.json").read_text())
        except (OSError, ValueError):
            return None

    def wait_for(self, predicate, timeout: float, what: str, interval: float = 0.1):
        """predicate()'s first true value; AssertionError (with the log's tail) if the daemon
        exits first or the timeout passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited ({self.proc.returncode}) while waiting for {what}\n"
                                     f"{self.stderr[-4000:]}")
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{self.stderr[-4000:]}")

    def wait_ready(self, timeout: float = 300) -> dict:
        """Until this daemon's stats.json says it is running; returns that snapshot."""
        def ready():
            s = self.stats()
            return s if s and s.get("pid") == self.proc.pid and s.get("state") == "running" else None
        return self.wait_for(ready, timeout, "the daemon to be running")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"daemon did not exit within {timeout} s\n{self.stderr[-4000:]}") from None

    def kill(self) -> None:
        """Kill the daemon and everything it started (its own session)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)

    def close(self) -> None:
        self.kill()
        for f in (self._out, self._err):
            if f is not None:
                f.close()

    def __enter__(self) -> "Daemon":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
