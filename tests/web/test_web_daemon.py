"""The console as the daemon's child: started by one config line, its crash (kill -9) never
reaches capture (frames keep being processed while it is down), it is restarted on a new pid and
serves again, and an orderly stop takes it down with the daemon (exit 0, no process left)."""
from __future__ import annotations

import json
import os
import signal
import time

import httpx
import pytest

from benchmarks.harness import Daemon, config, write_config
from benchmarks.ports import free_port


def _web(state):
    try:
        return json.loads((state / "web.json").read_text())
    except (OSError, ValueError):
        return None


def _answers(url: str):
    try:
        r = httpx.get(url + "api/cameras", timeout=30)
        return r.json() if r.status_code == 200 else None
    except httpx.HTTPError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_web_child_crashes_alone_and_comes_back(tmp_path):
    state = tmp_path / "var"
    doc = config([{"id": "sample", "url": "builtin:sample.mp4", "loop": True}], state_dir=state,
                 sinks={"sql": {"enabled": True, "url": f"sqlite:///{tmp_path / 'alprd.db'}"},
                        "bus": {"enabled": True, "endpoint": f"tcp://127.0.0.1:{free_port()}"}},
                 web={"enabled": True, "port": 0})
    cfg = write_config(tmp_path / "alprd.yaml", doc)
    with Daemon(cfg, tmp_path, "--keep-running") as d:
        d.wait_ready(300)
        first = d.wait_for(lambda: _web(state), 300, "web.json")
        body = d.wait_for(lambda: _answers(first["url"]), 300, "the console to answer")
        assert [c["camera_id"] for c in body["cameras"]] == ["sample"]
        os.kill(first["pid"], signal.SIGKILL)
        before = d.wait_for(lambda: d.stats(), 300, "a snapshot")["frames"]["processed"]
        # capture goes on while the console is down, and the console comes back on a new pid
        d.wait_for(lambda: (d.stats() or {}).get("frames", {}).get("processed", 0) > before + 5, 300,
                   "frames processed after the web child died")
        second = d.wait_for(lambda: (w := _web(state)) and w["pid"] != first["pid"] and w, 300, "a new web.json")
        d.wait_for(lambda: _answers(second["url"]), 300, "the restarted console to answer")
        d.wait_for(lambda: (d.stats() or {}).get("restarts", {}).get("web", 0) >= 1, 300, "the restart counted")
        assert d.proc.poll() is None
        d.signal()
        assert d.wait(300) == 0, d.stderr[-4000:]
    assert not _alive(second["pid"])
    assert "Traceback" not in d.stderr, d.stderr[-4000:]
    assert "web console on http://127.0.0.1:" in d.stderr


@pytest.mark.slow
def test_alprd_web_alone_serves_and_stops_on_sigterm(tmp_path):
    """`alprd web` without a daemon: the config's database (none yet: a 503 line), the page, and
    SIGTERM stops it with exit 0."""
    import subprocess

    from benchmarks.harness import alprd_cmd, env

    state = tmp_path / "var"
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"cameras: [{{id: a, url: x.mp4}}]\nstorage: {{state_dir: {state}}}\n"
                   f"sinks: {{sql: {{url: 'sqlite:///{tmp_path / 'none.db'}'}}, bus: {{enabled: false}}}}\n")
    p = subprocess.Popen(alprd_cmd("web", "-c", str(cfg), "--port", "0"), cwd=tmp_path, env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while _web(state) is None and p.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        web = _web(state)
        assert web and web["pid"] == p.pid, p.stderr.read() if p.poll() is not None else "no web.json"
        assert httpx.get(web["url"], timeout=60).status_code == 200
        r = httpx.get(web["url"] + "api/events", timeout=60)
        assert r.status_code == 503 and "no database at" in r.json()["detail"]
        assert httpx.get(web["url"] + "api/live", timeout=60).status_code == 503  # the bus is off
        p.send_signal(signal.SIGTERM)
        assert p.wait(120) == 0
        assert not (state / "web.json").exists()  # it names nothing any more
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(30)
    err = p.stderr.read()
    assert "Traceback" not in err and "web console on http://127.0.0.1:" in err
