"""Security properties, on the real daemon and the real command line (SECURITY.md says why):

- the bus and the metrics endpoint listen on loopback unless configured otherwise (the daemon's
  listening sockets, read from /proc, are all 127.0.0.1), and binding them elsewhere without
  protection is warned about;
- camera URLs with credentials are masked in logs, metrics, events, stats.json and stdout;
- database passwords never reach a log line or a terminal (password in the environment, a wrong
  password, an inline URL password);
- weights are loaded without running code: a checkpoint whose pickle would create a file is
  refused by load_checkpoint, `alprd recognize` and `alprd run`, and the file is not created;
- the systemd unit runs as an unprivileged user without capabilities.
"""
from __future__ import annotations

import configparser
import os
import pickle
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "daemon"))
sys.path.insert(0, str(HERE.parent / "chaos"))

from bursts import burst_schedule, make_burst_video  # noqa: E402
from chaos_helpers import (Blackhole, DaemonProcess, Subscriber, chaos_config, no_tracebacks,  # noqa: E402
                           run_alprd, stats, stop_daemon)
from helpers_daemon import make_rigged_weights  # noqa: E402
from pg import pg_server  # noqa: E402,F401  (fixture)
from benchmarks.ports import free_port  # noqa: E402

ROOT = HERE.parents[1]
CAMERA_SECRET = "s3cret-pw"  # Blackhole.url's password


def _tree(pid: int) -> list[int]:
    out, todo = [pid], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").iterdir():
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out


def listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket the process tree listens on."""
    inodes = set()
    for p in _tree(pid):
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    link = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A" or f[9] not in inodes:  # 0A: LISTEN
                continue
            addr, port = f[1].split(":")
            raw = bytes.fromhex(addr)
            if v6:
                words = [raw[i:i + 4][::-1] for i in range(0, 16, 4)]
                ip = socket.inet_ntop(socket.AF_INET6, b"".join(words))
            else:
                ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
            out.append((ip, int(port, 16)))
    return out


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return make_rigged_weights(tmp_path_factory.mktemp("security-weights") / "rigged.pt")


def test_loopback_by_default_and_camera_credentials_masked_everywhere(tmp_path, weights):
    from alprd.config import BusSinkConfig, MetricsConfig, load_config

    for cfg in (BusSinkConfig(), ):
        assert cfg.endpoint.startswith("tcp://127.0.0.1:")
    assert MetricsConfig().bind == "127.0.0.1"
    for shipped in (ROOT / "config" / "alprd.yaml", ROOT / "alprd" / "data" / "alprd.yaml",
                    ROOT / "alprd" / "data" / "alprd-service.yaml"):
        c = load_config(shipped)
        assert c.sinks.bus.endpoint.startswith("tcp://127.0.0.1:") and c.metrics.bind == "127.0.0.1", shipped
    # the daemon with the default hosts (ports moved out of the way), metrics on
    video = make_burst_video(tmp_path / "gate.mp4", burst_schedule(2, gap_s=2.5))
    hole = Blackhole()
    bus_port, metrics_port = free_port(), free_port()
    state = tmp_path / "state"
    cfg_path = chaos_config(tmp_path / "alprd.yaml", [{"id": "gate", "url": str(video)},
                                                      {"id": "street", "url": hole.url}],
                            state_dir=state, weights=weights, bus_port=bus_port,
                            sql_url=f"sqlite:///{tmp_path / 'events.db'}")
    data = yaml.safe_load(cfg_path.read_text())
    data["metrics"] = {"enabled": True, "port": metrics_port}
    data["sinks"]["stdout"] = {"enabled": True, "as_json": True}
    cfg_path.write_text(yaml.safe_dump(data))
    sub = Subscriber(f"tcp://127.0.0.1:{bus_port}")
    d = DaemonProcess(cfg_path, tmp_path)
    try:
        d.wait_for(lambda: len(sub.finals("gate")) == 2 and "street: cannot open" in d.stderr, 60,
                   "the plates of gate and a failed connection of street")
        socks = listening(d.proc.pid)
        assert {p for _, p in socks} >= {bus_port, metrics_port}, socks
        assert all(ip in ("127.0.0.1", "::1") for ip, _ in socks), f"listening beyond loopback: {socks}"
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        assert 'camera="street"' in metrics
        assert stop_daemon(d) == 0, d.stderr[-3000:]
    finally:
        d.close()
        sub.close()
        hole.close()
    no_tracebacks(d.stderr)
    status = run_alprd("status", "-c", str(cfg_path), timeout=60, cwd=tmp_path)
    texts = {"log": d.stderr, "stdout": d.stdout, "metrics": metrics, "stats.json": (state / "stats.json").read_text(),
             "events.jsonl": (state / "events.jsonl").read_text(), "bus": repr(sub.events()),
             "alprd status": status.stdout + status.stderr}
    for where, text in texts.items():
        assert CAMERA_SECRET not in text, f"the camera password is in {where}"
    assert "rtsp://viewer:***@127.0.0.1" in d.stderr
    assert "reachable from other hosts" not in d.stderr
    assert stats(state)["events"]["plate.final"] == 2


def test_binding_beyond_loopback_without_protection_is_warned_about(caplog):
    from alprd.config import BusSinkConfig
    from alprd.service.metrics import MetricsServer
    from alprd.sinks.bus import BusSink, is_local_endpoint

    assert is_local_endpoint("tcp://127.0.0.1:5556") and is_local_endpoint("ipc:///run/alprd/bus")
    assert is_local_endpoint("tcp://[::1]:5556") and is_local_endpoint("tcp://localhost:1")
    assert not is_local_endpoint("tcp://*:5556") and not is_local_endpoint("tcp://0.0.0.0:1")
    assert not is_local_endpoint("tcp://192.168.1.20:1") and not is_local_endpoint("tcp://eth0:1")
    caplog.set_level("WARNING")
    sink = BusSink(BusSinkConfig(endpoint="tcp://0.0.0.0:0"))
    sink.close(linger_s=0)
    server = MetricsServer(lambda: {}, bind="0.0.0.0", port=0)
    assert server.start()
    server.stop()
    text = caplog.text
    assert "bus: tcp://0.0.0.0:0 is reachable from other hosts without encryption" in text
    assert "metrics: http://0.0.0.0:" in text and "reachable from other hosts without authentication" in text


def test_database_passwords_never_reach_logs_or_terminals(tmp_path, weights, pg_server, monkeypatch):
    """A wrong password from the environment and a wrong inline URL password: every command that
    touches the database fails, and says why, without echoing it. (The right password from the
    environment, with the database going down and a daemon killed: tests/chaos/test_chaos_restart.py.)"""
    db = pg_server.create_database().rsplit("/", 1)[1]
    video = make_burst_video(tmp_path / "gate.mp4", burst_schedule(1))
    wrong = "Wr0ng-PassW0rd-xyz"
    outputs = {}
    for case, url, commands in (
            ("wrong env", pg_server.url(db, with_password=False),
             (("check-config",), ("db", "upgrade"), ("query", "--plate", "A*"), ("run",))),
            ("inline wrong", pg_server.url(db, with_password=False).replace("postgres@", f"postgres:{wrong}@"),
             (("check-config",), ("db", "upgrade"), ("query", "--plate", "A*")))):
        state = tmp_path / case.replace(" ", "-")
        state.mkdir()
        cfg = chaos_config(state / "alprd.yaml", [{"id": "gate", "url": str(video)}], state_dir=state,
                           weights=weights, bus_port=free_port(), sql_url=url,
                           sql={"password_env": "ALPRD_TEST_PG_PASSWORD"} if "env" in case else {})
        monkeypatch.setenv("ALPRD_TEST_PG_PASSWORD", wrong)
        for args in commands:
            res = run_alprd(*args, "-c", str(cfg), timeout=120, cwd=state)
            outputs[(case, args[0])] = (res.returncode, res.stdout + res.stderr)
    for (case, command), (code, text) in outputs.items():
        assert "Traceback" not in text, (case, command, text[-2000:])
        assert wrong not in text and pg_server.password not in text, f"a password leaked: {case}, {command}"
        if command in ("db", "query"):
            assert code != 0 and "password authentication failed" in text, (case, command, text[-2000:])
    assert "postgres:***@" in outputs[("inline wrong", "check-config")][1]


class _Payload:
    """Unpickling this runs code: it writes the marker file (what an attacker's weights would do)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_weights_that_carry_code_are_refused_without_running_it(tmp_path):
    import torch

    from alprd.model.weights import WeightsError, load_checkpoint

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"dsnet": _Payload(str(marker)), "rsnet": {}, "meta": {}}, evil)
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"dsnet": _Payload(str(marker)), "rsnet": {}}))
    # the files really are malicious: an unsafe load runs the payload
    probe = subprocess.run([sys.executable, "-c", "import sys, torch; sys.path.insert(0, sys.argv[2]); "
                            "torch.load(sys.argv[1], weights_only=False)", str(evil), str(HERE)],
                           capture_output=True, text=True, timeout=120)
    assert marker.exists(), probe.stderr[-2000:]
    marker.unlink()
    for path in (evil, legacy):
        with pytest.raises(WeightsError, match="not a safe alprd weights file"):
            load_checkpoint(path)
        assert not marker.exists()
    res = run_alprd("recognize", "--weights", str(evil), timeout=120, cwd=tmp_path)
    assert res.returncode == 2 and "not a safe alprd weights file" in res.stdout + res.stderr
    video = make_burst_video(tmp_path / "gate.mp4", burst_schedule(1))
    cfg = chaos_config(tmp_path / "alprd.yaml", [{"id": "gate", "url": str(video)}], state_dir=tmp_path / "state",
                       weights=legacy, bus_port=free_port(), sql_url=f"sqlite:///{tmp_path / 'e.db'}")
    res = run_alprd("run", "-c", str(cfg), timeout=120, cwd=tmp_path)
    assert res.returncode == 1 and "cannot load the model" in res.stderr and "Traceback" not in res.stderr
    assert not marker.exists(), "the payload ran"


def test_the_service_runs_unprivileged(tmp_path):
    units = [ROOT / "systemd" / "alprd.service", ROOT / "alprd" / "data" / "alprd.service"]
    res = run_alprd("install-service", "--prefix", str(tmp_path / "root"), "--exec", "/usr/bin/alprd",
                    timeout=60, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    units.append(tmp_path / "root" / "etc" / "systemd" / "system" / "alprd.service")
    for unit in units:
        ini = configparser.ConfigParser(strict=False, interpolation=None)
        ini.optionxform = str
        ini.read_string(unit.read_text())
        svc = ini["Service"]
        assert svc.get("User") == "alprd" and svc.get("Group") == "alprd", unit
        assert svc.get("NoNewPrivileges") == "yes" and svc.get("CapabilityBoundingSet") == "", unit
        assert svc.get("ProtectSystem") == "strict" and svc.get("ProtectHome") == "yes", unit
        assert svc.get("UMask") == "0027" and svc.get("StateDirectoryMode") == "0750", unit
        assert "root" not in (svc.get("User"), svc.get("Group"))
