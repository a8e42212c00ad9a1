"""The CLI as an operator meets it after the demo (issue 17): every command finds the daemon's
database without -c, read-only commands never create one, tables keep every cell at 60
columns, errors are plain lines on stderr, and each command says what it did or waits for.

All through real processes (`python -m alprd`), real SQLite, real ZeroMQ sockets on loopback."""
from __future__ import annotations

import json
import shutil
import sqlite3
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))
from helpers_daemon import alprd_cmd, env, run_alprd  # noqa: E402
from waiting import wait_for_text  # noqa: E402
from benchmarks.ports import free_port

NARROW = {"COLUMNS": "60", "LINES": "20"}
SAMPLE_PLATE = "粤LQ092V"


def _isolated(cmd: list[str]) -> list[str]:
    """Run `cmd` in a network namespace of its own when this user may make one, so the embedded
    default's fixed bus port (5556) cannot clash with anything else on the machine."""
    if shutil.which("unshare") and shutil.which("ip"):
        probe = subprocess.run(["unshare", "-n", "true"], capture_output=True)
        if probe.returncode == 0:
            return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]
    return cmd


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    """An empty directory in which `alprd run` (no -c: the embedded default) ran the sample."""
    d = tmp_path_factory.mktemp("demo")
    res = subprocess.run(_isolated(alprd_cmd("run")), capture_output=True, text=True, cwd=d,
                         env=env(NARROW), timeout=900)  # a hang guard: it ends with the sample
    assert res.returncode == 0, res.stderr[-3000:]
    return d, res


def test_run_then_query_without_c_finds_the_sample_event(demo_dir):
    d, run = demo_dir
    assert SAMPLE_PLATE in run.stdout
    assert "orphaned" not in run.stderr  # the ring of a finished file is no leak
    assert "alembic" not in run.stderr.lower(), run.stderr
    res = run_alprd("query", "--json", cwd=d, extra_env=NARROW)
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["plate"] for e in events] == [SAMPLE_PLATE]
    assert not (d / "alprd.db").exists()  # no second database beside var/alprd.db
    cur = run_alprd("db", "current", cwd=d)
    assert cur.returncode == 0 and "var/alprd.db" in cur.stdout and "up to date" in cur.stdout, cur


def test_the_query_table_keeps_every_cell_at_60_columns(demo_dir):
    d, _ = demo_dir
    res = run_alprd("query", cwd=d, extra_env=NARROW)
    assert res.returncode == 0, res.stderr
    header, rule, row = res.stdout.splitlines()[1:4]
    assert "crop" in header and "parked" in header and "camera" in header
    crop = json.loads(run_alprd("query", "--json", cwd=d).stdout)["crop_path"]
    assert crop and (d / crop).is_file()
    cells = row.split()
    assert "sample" in cells and SAMPLE_PLATE in cells and crop in cells and "no" in cells, row
    assert "…" not in res.stdout


@pytest.mark.parametrize("since, found", [
    ("999999999d", 1), ("99999999999999999999w", 1), ("0001-01-01", 1), ("0001-01-01T00:00-05:00", 1),
    ("9999-12-31T23:59:59+05:00", 0)])
def test_query_times_at_the_ends_of_the_calendar_are_no_traceback(demo_dir, since, found):
    d, _ = demo_dir
    res = run_alprd("query", "--since", since, "--until", "9999-12-31T23:59:59", "--json", cwd=d)
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert [json.loads(line)["plate"] for line in res.stdout.splitlines()] == [SAMPLE_PLATE] * found


@pytest.mark.parametrize("args", [("query",), ("db", "current"), ("db", "downgrade"),
                                  ("db", "purge", "--older-than", "30d")])
def test_read_only_commands_never_create_a_database(tmp_path, args):
    res = run_alprd(*args, cwd=tmp_path)
    assert res.returncode == 1, res
    assert "no database at var/alprd.db" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert list(tmp_path.iterdir()) == []  # no file, no var/ directory


def test_db_upgrade_creates_the_default_database_quietly(tmp_path):
    res = run_alprd("db", "upgrade", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "var" / "alprd.db").is_file()
    assert "alembic" not in res.stderr.lower() and "Running upgrade" not in res.stderr, res.stderr
    assert "now at" in res.stdout


def test_unsafe_weights_are_one_plain_line_on_stderr_without_the_unsafe_advice(tmp_path):
    not_weights = tmp_path / "photo.pt"
    not_weights.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    res = run_alprd("recognize", "--weights", str(not_weights), cwd=tmp_path, timeout=120, extra_env=NARROW)
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a safe alprd weights file" in lines[0], res.stderr
    assert "weights_only=False" not in res.stderr and "weights_only` set to `False" not in res.stderr


def test_recognize_table_is_whole_at_60_columns_and_save_vis_says_where(tmp_path):
    vis = tmp_path / "vis"
    res = run_alprd("recognize", "--save-vis", str(vis), cwd=tmp_path, timeout=120, extra_env=NARROW)
    assert res.returncode == 0, res.stderr
    assert SAMPLE_PLATE in res.stdout.split() and "sample.jpg" in res.stdout
    assert f"1 image(s) with the plates drawn written to {vis}" in res.stderr
    assert (vis / "sample_alprd.jpg").is_file()
    clash = tmp_path / "taken"
    clash.write_text("a file")
    res = run_alprd("recognize", "--save-vis", str(clash), cwd=tmp_path, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == f"error: --save-vis: {clash} exists and is not a directory"


def test_save_vis_draws_the_province_in_chinese_with_the_read_confidence():
    import numpy as np
    from PIL import ImageFont

    from alprd.events import PlateRead
    from alprd.vis import cjk_font_path, draw_reads, label_of

    font = cjk_font_path()
    assert font is not None, "no CJK font: scripts/install-test-deps.sh installs fonts-wqy-microhei"
    assert ImageFont.truetype(str(font), 24).getmask("粤").getbbox() is not None  # a real glyph
    read = PlateRead(corners=((100.0, 120.0), (240.0, 120.0), (240.0, 160.0), (100.0, 160.0)),
                     det_conf=0.51, text=SAMPLE_PLATE, char_confs=(0.99, 0.97, 0.98, 0.99, 0.99, 0.93, 0.99))
    assert label_of(read) == f"{SAMPLE_PLATE} 0.93"  # the read's confidence, not the detector's 0.51
    frame = np.full((240, 320, 3), 90, np.uint8)
    out = draw_reads(frame, [read])
    assert (out[80:118, 100:300] != 90).any()  # the label above the plate


def test_subscribe_says_when_nothing_listens(tmp_path):
    err_path = tmp_path / "err"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(alprd_cmd("subscribe", "--endpoint", f"tcp://127.0.0.1:{free_port()}"),
                                stdout=subprocess.PIPE, stderr=err, env=env())
    try:
        wait_for_text(err_path, "nothing answers on", proc)
    finally:
        proc.kill()
        proc.wait(60)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_subscribe_stops_on_sigint_or_sigterm_even_started_with_sigint_ignored(tmp_path, sig):
    """A shell starts background jobs with SIGINT ignored; a supervisor stops with SIGTERM."""
    err_path = tmp_path / "err"
    with open(err_path, "w") as err:
        proc = subprocess.Popen(alprd_cmd("subscribe", "--endpoint", f"tcp://127.0.0.1:{free_port()}"),
                                stdout=subprocess.PIPE, stderr=err, env=env(),
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        wait_for_text(err_path, "waiting for events", proc)
        proc.send_signal(getattr(signal, sig))
        assert proc.wait(120) == 130, err_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)


def test_install_service_warns_about_a_venv_under_tmp(tmp_path):
    res = run_alprd("install-service", "--dry-run", "--prefix", str(tmp_path),
                    "--exec", "/tmp/venv/bin/alprd", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "/tmp/venv/bin/alprd is under /tmp" in res.stderr and "PrivateTmp=yes" in res.stderr


def test_export_writes_the_16_9_view_and_refuses_a_file_path(tmp_path):
    taken = tmp_path / "taken.onnx"
    taken.write_text("")
    res = run_alprd("export", str(taken), cwd=tmp_path, timeout=300)
    assert res.returncode == 2 and res.stderr.strip() == f"alprd export: {taken} exists and is not a directory"
    out = tmp_path / "onnx"
    res = run_alprd("export", str(out), "--frame", "1920x1080", cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr
    import onnxruntime as ort

    sess = ort.InferenceSession(str(out / "dsnet_u8_288x512.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[1:] == [288, 512, 3]
    assert sess.get_outputs()[0].shape[1:] == [12, 18, 32]
    for name in ("dsnet.onnx", "rsnet.onnx", "dsnet_u8.onnx", "rsnet_u8.onnx", "dsnet_288x512.onnx"):
        assert str(out / name) in res.stdout
    assert "docs/onnx.md" in res.stderr


@pytest.mark.parametrize("stats", ["[]", '"x"', json.dumps({
    "written_at": "yesterday", "pid": "me", "recent_fps": "fast", "frames": [1, 2],
    "cameras": {"gate": {"fps": "x", "events": 3}}, "sinks": {"sql": {"lag_s": "slow"}}})])
def test_status_on_a_malformed_stats_file_is_one_line_not_a_traceback(tmp_path, stats):
    (tmp_path / "stats.json").write_text(stats)
    res = run_alprd("status", "--state-dir", str(tmp_path), cwd=tmp_path, extra_env=NARROW)
    assert res.returncode == 3 and "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("error: "), res.stderr


def test_the_default_database_is_the_one_the_daemon_writes():
    """One rule for every command (config.default_config_path): the SQL URL query/db use without
    -c is the embedded default's, which `alprd run` writes."""
    from alprd.config import default_config_path, load_config
    from alprd.sinks.db_url import cli_url

    if Path("/etc/alprd/alprd.yaml").is_file():
        pytest.skip("the installed service's configuration is the default here")
    assert str(cli_url(None, None)) == load_config(default_config_path()).sinks.sql.url == "sqlite:///var/alprd.db"
    assert sqlite3.sqlite_version  # the driver is there
