"""The service pieces that need no daemon run: the repeat filter and journald format, the
sd_notify protocol on a real datagram socket, the reload plan, `alprd install-service` (dry run,
staged install, `systemd-analyze verify`), the service configuration, `alprd status` exit codes."""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from helpers_daemon import run_alprd

from alprd.config import load_config, parse_config
from alprd.service import preflight, reload
from alprd.process.logs import RepeatFilter, _JournalFormatter
from alprd.process.sdnotify import Notifier, ServiceNotifier, watchdog_interval_s

DATA = Path(__file__).resolve().parents[2] / "alprd" / "data"


# -- logs ------------------------------------------------------------------------------------
def _record(msg, *args, level=logging.WARNING, name="alprd.x"):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeats_are_rate_limited_per_kind_and_the_count_is_reported():
    now = [0.0]
    f = RepeatFilter(burst=3, window_s=60, clock=lambda: now[0])
    passed = [f.filter(_record("%s: cannot open %s (try %d)", "gate", "rtsp://x", i)) for i in range(10)]
    assert passed == [True] * 3 + [False] * 7
    assert f.filter(_record("%s: cannot open %s (try %d)", "yard", "rtsp://y", 1))  # another camera
    assert f.filter(_record("restarting in %.1f s", 0.5, level=logging.DEBUG))  # debug never thinned
    now[0] = 61.0
    r = _record("%s: cannot open %s (try %d)", "gate", "rtsp://x", 11)
    assert f.filter(r) and r.getMessage() == "gate: cannot open rtsp://x (try 11) [7 similar message(s) suppressed]"
    # a child's records arrive formatted: numbers do not make them different
    child = [_record(f"decoder stalled after {i} frames") for i in range(5)]
    for r in child:
        r.processName = "decoder:gate"
    assert [f.filter(r) for r in child] == [True] * 3 + [False] * 2


def test_journald_lines_carry_the_priority_even_on_traceback_lines():
    fmt = _JournalFormatter("%(message)s")
    assert fmt.format(_record("camera %s down", "gate")) == "<4>alprd.x: camera gate down"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        r = logging.LogRecord("alprd.y", logging.ERROR, __file__, 1, "crashed", (), sys.exc_info())
    lines = fmt.format(r).splitlines()
    assert lines[0] == "<3>alprd.y: crashed" and len(lines) > 2 and all(line.startswith("<3>") for line in lines)


# -- sd_notify ----------------------------------------------------------------------------------
@pytest.fixture
def notify_sock(tmp_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp_path / "n.sock"))
    s.settimeout(0.05)
    yield s
    s.close()


def _drain(s) -> list[str]:
    out = []
    while True:
        try:
            out.append(s.recv(4096).decode())
        except socket.timeout:
            return out


def test_service_notifier_ready_grace_and_watchdog_only_while_healthy(tmp_path, notify_sock):
    sn = ServiceNotifier(Notifier(str(tmp_path / "n.sock")), 1.0, ready_grace_s=5.0)
    sn.status("starting")
    sn.running(100.0)
    sn.tick(100.0, healthy=True)
    sn.tick(101.5, healthy=False)   # due, but withheld
    assert sn.pings_withheld
    sn.tick(102.0, healthy=True)
    sn.tick(102.5, healthy=True)    # not due yet
    sn.tick(105.0, healthy=True, status="0/1 cameras up")  # grace over without frames: READY anyway
    sn.frames_flowing("1/1 cameras up")  # already ready: nothing more
    sn.stopping()
    sn.tick(200.0, healthy=True)
    assert _drain(notify_sock) == ["STATUS=starting", "WATCHDOG=1", "WATCHDOG=1",
                                   "READY=1\nSTATUS=0/1 cameras up", "WATCHDOG=1", "STOPPING=1", "WATCHDOG=1"]


def test_notifier_speaks_to_abstract_sockets_and_reports_reload_time(notify_sock):
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"alprd-test-{os.getpid()}"
    abstract.bind("\0" + name)
    abstract.settimeout(1)
    try:
        n = Notifier("@" + name)
        assert n.reloading()
        msg = abstract.recv(4096).decode().splitlines()
        assert msg[0] == "RELOADING=1" and msg[1].startswith("MONOTONIC_USEC=") and int(msg[1].split("=")[1]) > 0
    finally:
        abstract.close()
    assert not Notifier("").enabled and not ServiceNotifier(Notifier("")).enabled


def test_watchdog_interval_honours_usec_and_pid(monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval_s() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", "1")  # meant for another process
    assert watchdog_interval_s() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_interval_s() == 15.0


# -- reload plan ---------------------------------------------------------------------------------
def _cfg(cams, **extra):
    return parse_config({"cameras": cams, **extra})


def test_reload_plan_compares_enabled_cameras_and_names_sections_it_leaves():
    running = _cfg([{"id": "a", "url": "rtsp://h/a"}, {"id": "b", "url": "rtsp://h/b"},
                    {"id": "c", "url": "rtsp://h/c"}, {"id": "off", "url": "rtsp://h/o", "enabled": False}])
    new = _cfg([{"id": "a", "url": "rtsp://h/a"}, {"id": "b", "url": "rtsp://h/b", "fps": 3},
                {"id": "d", "url": "rtsp://h/d"}, {"id": "c", "url": "rtsp://h/c", "enabled": False},
                {"id": "off", "url": "rtsp://h/o", "enabled": False}],
               inference={"max_batch": 2})
    p = reload.plan(running, new)
    assert [c.id for c in p.add] == ["d"] and p.remove == ["c"] and [c.id for c in p.restart] == ["b"]
    assert p.keep == ["a"] and p.ignored == ["inference"]
    assert p.describe() == "added d; removed c; restarted b; unchanged a"
    # an explicit fps equal to the inherited one is no change; defaults are not reloaded
    same = _cfg([{"id": "a", "url": "rtsp://h/a", "fps": 10}, {"id": "b", "url": "rtsp://h/b"},
                 {"id": "c", "url": "rtsp://h/c"}], defaults={"fps": 5})
    p = reload.plan(running, same)
    assert not p.changes_cameras and p.ignored == ["defaults"]
    assert reload.apply_cameras(running, new).inference == running.inference


def test_reload_load_reports_broken_files_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cameras: [unclosed\n")
    cfg, err = reload.load(bad)
    assert cfg is None and "invalid YAML" in err and "\n" not in err
    none_on = tmp_path / "off.yaml"
    none_on.write_text(yaml.safe_dump({"cameras": [{"id": "a", "url": "rtsp://h/a", "enabled": False}]}))
    cfg, err = reload.load(none_on)
    assert cfg is None and err.endswith("cameras: no camera is enabled")


# -- install-service, the unit, the service configuration ----------------------------------------
def test_install_service_dry_run_prints_every_step_and_changes_nothing(tmp_path):
    res = run_alprd("install-service", "--dry-run", "--gpu", "--prefix", str(tmp_path / "root"))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"would write {tmp_path}/root/etc/systemd/system/alprd.service (ExecStart=" in out
    assert f"would write {tmp_path}/root/etc/systemd/system/alprd.service.d/gpu.conf" in out
    assert f"would write {tmp_path}/root/etc/alprd/alprd.yaml" in out and "Next steps" in out
    assert not (tmp_path / "root").exists()
    live = run_alprd("install-service", "--dry-run")  # the real root: the user too, still nothing done
    assert live.returncode == 0, live.stderr
    assert "would write /etc/systemd/system/alprd.service" in live.stdout
    assert ("would create the system user: useradd --system" in live.stdout
            or "would keep the existing user alprd" in live.stdout)


def test_install_service_into_a_prefix_keeps_an_existing_config(tmp_path):
    root = tmp_path / "root"
    res = run_alprd("install-service", "--prefix", str(root), "--exec", "/usr/bin/alprd")
    assert res.returncode == 0, res.stderr
    unit = (root / "etc/systemd/system/alprd.service").read_text()
    assert "ExecStart=/usr/bin/alprd run -c /etc/alprd/alprd.yaml" in unit
    cfg_path = root / "etc/alprd/alprd.yaml"
    assert oct(cfg_path.stat().st_mode & 0o777) == "0o640"
    assert (root / "etc/alprd/alprd.reference.yaml").read_text() == (DATA / "alprd.yaml").read_text()
    assert not (root / "etc/systemd/system/alprd.service.d").exists()
    cfg_path.write_text(cfg_path.read_text().replace("enabled: false", "enabled: true"))
    edited = cfg_path.read_text()
    res = run_alprd("install-service", "--prefix", str(root), "--gpu", "--exec", "/usr/bin/alprd")
    assert res.returncode == 0 and "keep the existing" in res.stdout
    assert cfg_path.read_text() == edited
    dropin = (root / "etc/systemd/system/alprd.service.d/gpu.conf").read_text()
    assert "PrivateDevices=no" in dropin and "DeviceAllow=char-nvidia-frontend rw" in dropin


def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    root = tmp_path / "root"
    exe = shutil.which("true") or "/bin/true"  # verify checks that ExecStart is executable
    assert run_alprd("install-service", "--prefix", str(root), "--exec", exe).returncode == 0
    unit = root / "etc/systemd/system/alprd.service"
    res = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    if res.returncode != 0 and "Failed to" in res.stderr and "alprd.service" not in res.stderr:
        pytest.skip(f"systemd-analyze cannot run here: {res.stderr.strip()[:200]}")
    ours = [line for line in (res.stdout + res.stderr).splitlines() if "alprd.service" in line]
    assert res.returncode == 0 and not ours, res.stdout + res.stderr
    text = unit.read_text()
    for key in ("Type=notify", "WatchdogSec=", "NotifyAccess=main", "Restart=on-failure", "User=alprd",
                "StateDirectory=alprd", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                "PrivateTmp=yes", "ExecReload=/bin/kill -HUP $MAINPID", "RestartPreventExitStatus=2"):
        assert key in text, key


def test_the_service_configuration_is_valid_and_serves_metrics_on_loopback():
    cfg = load_config(DATA / "alprd-service.yaml")
    assert cfg.metrics.enabled and cfg.metrics.bind == "127.0.0.1"
    assert Path(cfg.storage.state_dir).is_absolute() and cfg.storage.state_dir == "/var/lib/alprd"
    assert cfg.storage.crop_retention_days and cfg.storage.crop_max_mb and cfg.sinks.sql.retention_days
    assert preflight.problems(cfg) == ["cameras: no camera is enabled"]  # until the user adds one
    assert load_config(DATA / "alprd.yaml").metrics.enabled is False  # off in the default config


# -- status --------------------------------------------------------------------------------------
def test_status_exit_codes_follow_the_snapshot(tmp_path):
    snap = {"uptime_s": 5, "running_s": 4, "frames": {}, "processed_fps": 0, "batches": 0, "mean_batch": 0,
            "events": {}, "open_tracks": 0, "restarts": {}, "decoders": {}, "cameras": {}, "sinks": {},
            "crops": {}, "pid": os.getpid(), "written_at": time.time(), "healthy": False,
            "health": "the inference worker has not answered for 70 s", "final": False}
    (tmp_path / "stats.json").write_text(json.dumps(snap))
    res = run_alprd("status", "--state-dir", str(tmp_path))
    assert res.returncode == 1 and "UNHEALTHY" in res.stdout, res.stdout + res.stderr
    snap["written_at"] = time.time() - 600  # a crashed daemon's last snapshot, last touched then too
    (tmp_path / "stats.json").write_text(json.dumps(snap))
    os.utime(tmp_path / "stats.json", (snap["written_at"], snap["written_at"]))
    res = run_alprd("status", "--state-dir", str(tmp_path), "--json")
    assert res.returncode == 3 and json.loads(res.stdout)["running"] is False
    os.utime(tmp_path / "stats.json")  # touched now: a live daemon that cannot rewrite it (full disk)
    res = run_alprd("status", "--state-dir", str(tmp_path), "--json")
    assert res.returncode == 1 and json.loads(res.stdout)["figures_age_s"] >= 599
    assert "cannot rewrite" in res.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("nope: 1\n")
    assert run_alprd("status", "-c", str(bad)).returncode == 2
