"""Configuration values that parse but cannot work (issues 17 and 18): every problem is listed at
once, camera ids fit the database, fps is a real number with a floor, the bus endpoint can be
bound, and check-config never shows a database password. Each is found before anything starts."""
from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
import yaml

from alprd.config import CAMERA_ID_MAX, ConfigError, parse_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
from helpers_daemon import run_alprd  # noqa: E402


def _cfg(cam: dict | None = None, **sections) -> dict:
    return {"cameras": [{"id": "gate", "url": "builtin:sample.mp4", **(cam or {})}], **sections}


def _write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "alprd.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True))
    return p


def test_every_problem_is_listed_not_only_the_first(tmp_path):
    data = _cfg({"fps": "5"}, defaults={"fsp": 3}, tracking={"min_hits": 0})
    with pytest.raises(ConfigError) as info:
        parse_config(data, "x.yaml")
    assert info.value.lines == ["x.yaml: cameras.0.fps: Input should be a valid number",
                                "x.yaml: defaults.fsp: unknown key",
                                "x.yaml: tracking.min_hits: Input should be greater than or equal to 1"]
    for command in ("check-config", "run"):
        res = run_alprd(command, "-c", str(_write(tmp_path, data)), cwd=tmp_path)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 3 and all(ln.startswith("error: ") for ln in lines), res.stderr
        assert "defaults.fsp: unknown key" in lines[1]


def test_a_camera_id_longer_than_the_database_allows_is_refused():
    from alprd.sinks import schema

    assert CAMERA_ID_MAX == schema.plate_events.c.camera_id.type.length  # one limit, two places
    parse_config(_cfg({"id": "c" * CAMERA_ID_MAX}))
    with pytest.raises(ConfigError, match=r"cameras\.0\.id: String should have at most 64 characters "
                                          r"\(the event database's limit\)"):
        parse_config(_cfg({"id": "c" * (CAMERA_ID_MAX + 1)}))


@pytest.mark.parametrize("where", ["camera", "defaults"])
@pytest.mark.parametrize("fps, problem", [
    (True, "Input should be a valid number"),      # YAML's `fps: true` is not 1 fps
    ("5", "Input should be a valid number"),       # nor is a quoted '5'
    (1e-300, "every track would end before its next frame"),  # one frame, ever
    (0.4, "every track would end before its next frame"),     # slower than max_unseen_s (2 s)
    (0, "Input should be greater than 0"),
])
def test_fps_must_be_a_real_number_above_the_tracking_floor(fps, problem, where):
    data = _cfg({"fps": fps}) if where == "camera" else _cfg(defaults={"fps": fps})
    key = "cameras.0.fps" if where == "camera" else "defaults.fps"
    with pytest.raises(ConfigError) as info:
        parse_config(data, "x.yaml")
    assert any(ln.startswith(f"x.yaml: {key}: ") and problem in ln for ln in info.value.lines), info.value


@pytest.mark.parametrize("fps, unseen", [(5, 2.0), (0.6, 2.0), (2, 1.0), (1, 1.5)])
def test_slow_but_workable_fps_is_accepted(fps, unseen):
    cfg = parse_config(_cfg({"fps": fps}, tracking={"max_unseen_s": unseen}))
    assert cfg.cameras[0].fps == fps


def test_check_config_finds_an_unbindable_bus_endpoint(tmp_path):
    # 192.0.2.1 is TEST-NET-1: never an address of this host, so binding it fails
    for endpoint, why in (("tcp://192.0.2.1:5556", "Cannot assign requested address"),
                          ("tcp://127.0.0.1:70000", "out of range"),
                          (f"ipc://{tmp_path}/no/such/dir/bus", "No such file or directory")):
        cfg = _write(tmp_path, _cfg(sinks={"bus": {"endpoint": endpoint}}))
        res = run_alprd("check-config", "-c", str(cfg), cwd=tmp_path)
        assert res.returncode == 2, res.stdout
        assert res.stderr.strip().endswith(f"sinks.bus.endpoint: cannot bind {endpoint} ({why})") or \
            (why in res.stderr and "sinks.bus.endpoint" in res.stderr), res.stderr


def test_an_ipc_bus_path_that_names_a_file_or_is_too_long_is_a_config_error(tmp_path):
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    long_dir = tmp_path / ("d" * 100)
    long_dir.mkdir()
    for endpoint, why in ((f"ipc://{precious}", "exists and is not a socket (binding would delete it)"),
                          (f"ipc://{long_dir}/bus.sock", "bytes long (at most 107)")):
        cfg = _write(tmp_path, _cfg(sinks={"bus": {"endpoint": endpoint}}))
        res = run_alprd("check-config", "-c", str(cfg), cwd=tmp_path)
        assert res.returncode == 2, res.stdout
        assert "sinks.bus.endpoint: " in res.stderr and why in res.stderr, res.stderr
    assert precious.read_text() == "keep me"


def test_a_bus_port_held_by_someone_else_is_not_a_config_error(tmp_path):
    with socket.socket() as held:  # perhaps this very daemon, running: `run` says who holds it
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        port = held.getsockname()[1]
        cfg = _write(tmp_path, _cfg(sinks={"bus": {"endpoint": f"tcp://127.0.0.1:{port}"}}))
        res = run_alprd("check-config", "-c", str(cfg), cwd=tmp_path)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("url, shown", [
    ("postgresql://alprd:pa/ss?w#rd@db.example:5432/alprd", "postgresql://alprd:***@db.example:5432/alprd"),
    ("postgresql://alprd:p@ss@db.example/alprd", "postgresql://alprd:***@db.example/alprd"),
    ("sqlite:////var/lib/alprd/alprd.db", "sqlite:////var/lib/alprd/alprd.db (file /var/lib/alprd/alprd.db)"),
    ("sqlite:///var/alprd.db", "sqlite:///var/alprd.db (file {cwd}/var/alprd.db)"),
])
def test_check_config_shows_the_sql_url_masked_and_as_it_resolves(tmp_path, url, shown):
    cfg = _write(tmp_path, _cfg(sinks={"sql": {"url": url}}))
    res = run_alprd("check-config", "-c", str(cfg), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"sql {shown.format(cwd=tmp_path)}" in res.stdout, res.stdout
    for secret in ("pa/ss", "w#rd", "p@ss"):
        assert secret not in res.stdout + res.stderr
