"""Storage hygiene with real daemon runs: a full disk under the crops costs crops, never events
(SQL and the bus still get them) and crops come back once space is freed; retention deletes old
crop folders and old SQL rows; the size cap holds between hourly prunes."""
from __future__ import annotations

import errno
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from helpers_daemon import DaemonProcess, events, moving_square_frame, run_alprd, stats
from helpers_service import service_config
from videos import make_video

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sinks"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))
from chaos_helpers import Subscriber, free_port  # noqa: E402
from helpers_sinks import make_event  # noqa: E402


def _with_sql_and_bus(cfg: Path, db: Path, bus: str | None = None, **sql) -> None:
    data = yaml.safe_load(cfg.read_text())
    data["sinks"]["sql"] = {"enabled": True, "url": f"sqlite:///{db}", "flush_interval_s": 0.2, **sql}
    if bus:
        data["sinks"]["bus"] = {"enabled": True, "endpoint": bus}
    cfg.write_text(yaml.safe_dump(data))


def _rows(db: Path) -> list[tuple]:
    engine = sa.create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                "select camera_id, plate, crop_path from plate_events order by camera_id"))]
    finally:
        engine.dispose()


@pytest.fixture
def tiny_fs(tmp_path):
    """A 256 KiB tmpfs (CI runs as root); skipped where mounting is not permitted."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_disk_costs_crops_not_events_and_crops_resume_when_space_returns(tmp_path, tiny_fs, svc_weights):
    short = make_video(tmp_path / "short.mp4", frames=25, size=(320, 240), fps=25, draw=moving_square_frame((320, 240)))
    long = make_video(tmp_path / "long.mp4", frames=300, size=(320, 240), fps=25, draw=moving_square_frame((320, 240)))
    state = tmp_path / "state"
    state.mkdir()
    (state / "crops").symlink_to(tiny_fs)  # only the crops live on the tiny file system
    filler = _fill(tiny_fs)
    db = tmp_path / "alprd.db"
    bus = f"tcp://127.0.0.1:{free_port()}"
    cfg = service_config(tmp_path / "alprd.yaml", [{"id": "early", "url": str(short)}, {"id": "late", "url": str(long)}],
                         state_dir=state, weights=svc_weights, tracking={"max_unseen_s": 1.0})
    _with_sql_and_bus(cfg, db, bus)
    sub = Subscriber(bus, "plate.final")  # reads from before the daemon binds until it has ended
    d = DaemonProcess(cfg, tmp_path)
    try:
        d.wait_for(lambda: [e for e in events(state / "events.jsonl", "plate.final") if e["camera_id"] == "early"],
                   90, "the early camera's final while the disk is full")
        assert "cannot save crops under" in d.stderr and "events go on without crops" in d.stderr
        filler.unlink()  # space again, while the late camera still runs
        assert d.wait(90) == 0, d.stderr[-3000:]  # both files end: exit 0
    finally:
        d.close()
    finals = {e["camera_id"]: e for e in events(state / "events.jsonl", "plate.final")}
    assert finals["early"]["crop_path"] is None
    assert finals["late"]["crop_path"] and Path(finals["late"]["crop_path"]).is_file()
    assert "saving crops under" in d.stderr and d.stderr.count("cannot save crops") == 1
    assert _rows(db) == [("early", "A", None), ("late", "A", finals["late"]["crop_path"])]
    sub.close()
    assert sorted(e["camera_id"] for e in sub.finals()) == ["early", "late"], d.stderr[-3000:]
    s = stats(state)
    assert s["crops"]["failed"] == 1 and s["crops"]["saved"] == 1


def test_retention_removes_old_crop_folders_and_old_rows_when_the_daemon_runs(tmp_path, svc_weights, loop_video):
    from alprd.config import SqlSinkConfig
    from alprd.sinks.sql import SqlSink

    state = tmp_path / "state"
    old_day = state / "crops" / "2001-02-03"
    old_day.mkdir(parents=True)
    (old_day / "gate_1_deadbeef.jpg").write_bytes(b"\xff\xd8old")
    recent = state / "crops" / datetime.now(timezone.utc).strftime("%Y-%m-%d")
    recent.mkdir()
    (recent / "gate_9_cafebabe.jpg").write_bytes(b"\xff\xd8new")
    db = tmp_path / "alprd.db"
    seed = SqlSink(SqlSinkConfig(url=f"sqlite:///{db}"), tmp_path / "seed-spool")
    seed.publish(make_event("OLD1", camera="gate", at=datetime.now(timezone.utc) - timedelta(days=400)))
    assert seed.flush(timeout=120)
    seed.close()
    cfg = service_config(tmp_path / "alprd.yaml", [{"id": "gate", "url": str(loop_video)}], state_dir=state,
                         weights=svc_weights)
    data = yaml.safe_load(cfg.read_text())
    data["storage"].update(crop_retention_days=30, crop_max_mb=10)
    cfg.write_text(yaml.safe_dump(data))
    _with_sql_and_bus(cfg, db, retention_days=30)
    res = run_alprd("run", "-c", str(cfg), timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert not old_day.exists() and (recent / "gate_9_cafebabe.jpg").is_file()
    assert "crop retention removed 1 files older than 30 days" in res.stderr
    rows = _rows(db)
    assert [r[1] for r in rows] == ["A"], rows  # OLD1 purged, the run's own final kept
    assert stats(state)["crops"]["removed"] == 1


def test_the_size_cap_holds_between_hourly_prunes(tmp_path):
    from alprd.events import PlateEvent
    from alprd.service.crops import CropStore

    store = CropStore(tmp_path / "crops", max_mb=0.05)  # 52 KB
    store.prune()
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    for i in range(40):
        e = PlateEvent(kind="plate.final", camera_id="gate", track_id=i, plate="A", confidence=0.9,
                       first_seen=t, last_seen=t + timedelta(seconds=i), reads=3)
        assert store.attach(e, b"\xff" * 4000).crop_path
        store.wait_pruned(10)
    on_disk = sum(p.stat().st_size for p in (tmp_path / "crops").glob("*/*.jpg"))
    assert on_disk <= 0.05 * 1024 * 1024 and store.removed > 0
    assert store.status()["bytes"] == on_disk and store.status()["files"] == on_disk // 4000
    newest = max((tmp_path / "crops").glob("*/*.jpg"), key=lambda p: p.stat().st_mtime)
    assert newest.name.startswith("gate_39_")  # the oldest went first
