"""The parking stage in the real daemon: `alprd run` on generated videos of an entry camera and an
exit camera whose stream times are three minutes apart, every sink on (JSONL, SQL, the bus).

Needs the shipped trained weights (they read the rendered plates); skipped without them.
"""
from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import sqlalchemy as sa

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS / "daemon"))
sys.path.insert(0, str(TESTS / "chaos"))

from chaos_helpers import Subscriber, free_port  # noqa: E402
from helpers_daemon import DaemonProcess, alprd_cmd, env, events  # noqa: E402

from benchmarks import harness  # noqa: E402

TEXTS = ["皖A12345", "京B6789C", "浙C45678"]
EXIT_AFTER_S = 180.0     # stream time between the entry and the exit video
PASS_FRAMES = 30         # frames a plate takes to cross (10 fps)
W, H = 640, 360


@pytest.fixture(scope="module")
def rendered():
    from alprd.model.weights import build_models

    if not build_models(None)[2].get("trained"):
        pytest.skip("no trained weights: the random model reads no plate")
    plates = pytest.importorskip("pipelines.synth.plates")
    rng = np.random.default_rng(7)
    try:
        return [plates.render_plate(t, "blue", rng, px_per_mm=0.45) for t in TEXTS]
    except FileNotFoundError as exc:
        pytest.skip(f"plate rendering assets missing: {exc}")


def _frame(p=None, j: int = 0) -> np.ndarray:
    img = np.empty((H, W, 3), np.uint8)
    img[:] = np.linspace(60, 160, W, dtype=np.uint8)[None, :, None]
    if p is not None:  # crossing left to right: "in" for a camera whose in direction is +x
        ph, pw = p.image.shape[:2]
        x = int(20 + (W - pw - 40) * j / PASS_FRAMES)
        y = H // 2 - ph // 2
        a = p.alpha[..., None]
        roi = img[y:y + ph, x:x + pw]
        roi[:] = (p.image * a + roi * (1 - a)).astype(np.uint8)
    return img


def timed_video(path: Path, start_s: float, rendered) -> Path:
    """Five empty frames at stream time 0, then from start_s each plate crossing in turn (10 fps,
    one empty second between plates): a file whose plates come start_s into its own clock."""
    frames = [(i / 10, None, 0) for i in range(5)]
    t = start_s
    for p in rendered:
        frames += [(t + j / 10, p, j) for j in range(PASS_FRAMES)]
        t += PASS_FRAMES / 10
        frames += [(t + j / 10, None, 0) for j in range(10)]
        t += 1.0
    with av.open(str(path), "w", format="mp4") as out:
        st = out.add_stream("libx264", rate=10)
        st.width, st.height, st.pix_fmt = W, H, "yuv420p"
        st.codec_context.time_base = Fraction(1, 1000)
        st.codec_context.gop_size = 10
        st.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
        for ts, p, j in frames:
            f = av.VideoFrame.from_ndarray(_frame(p, j), format="bgr24")
            f.pts = int(round(ts * 1000))
            f.time_base = Fraction(1, 1000)
            for pkt in st.encode(f):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path


def config(path: Path, cameras: list[dict], *, state: Path, db: Path, bus_port: int) -> Path:
    return harness.write_config(path, harness.config(
        cameras, state_dir=state,
        # --no-pace decodes a file flat out: ring slots for every frame of it (125), so frames
        # waiting for the (slower) worker are not overwritten and every plate is seen
        defaults={"fps": 10, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0,
                  "open_timeout_s": 3, "read_timeout_s": 3, "ring_slots": 160},
        inference={"backend": "torch", "threads": 1, "max_batch": 4, "max_wait_ms": 20, "max_queue_ms": 0},
        tracking={"max_unseen_s": 0.5},
        sinks={"sql": {"enabled": True, "url": f"sqlite:///{db}", "flush_interval_s": 0.2,
                       "retry_max_s": 1.0, "busy_timeout_s": 1.0},
               "bus": {"enabled": True, "endpoint": f"tcp://127.0.0.1:{bus_port}"}},
        parking={"lists_refresh_s": 1.0}))


def cam(cid: str, video: Path, role: str) -> dict:
    return {"id": cid, "url": str(video), "parking": {"role": role, "site": "lot", "inward": {"vector": [1, 0]}}}


def alprd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(alprd_cmd(*args), capture_output=True, text=True, timeout=120, env=env())


def rows(db: Path, table: str) -> list[dict]:
    from alprd.sinks.db_url import make_engine

    eng = make_engine(f"sqlite:///{db}", create_dirs=False)
    try:
        with eng.connect() as c:
            return [dict(r._mapping) for r in c.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))]
    finally:
        eng.dispose()


@pytest.fixture(scope="module")
def lists_db(tmp_path_factory) -> Path:
    """A database holding the lists both tests start from, made once (five `alprd plates` runs);
    each test works on its own copy (prepare_lists)."""
    db = tmp_path_factory.mktemp("parking-lists") / "alprd.db"
    _make_lists(db)
    return db


def prepare_lists(db: Path, template: Path) -> None:
    for suffix in ("", "-wal", "-shm"):  # the whole SQLite database, whatever its journal mode
        src = template.with_name(template.name + suffix)
        if src.exists():
            shutil.copyfile(src, db.with_name(db.name + suffix))


def _make_lists(db: Path) -> None:
    url = f"sqlite:///{db}"
    for args in (("create", "residents", "--kind", "allow", "--camera", "gate_in"),
                 # 皖A12345 read as entered: one character the reader confuses (1/T, measured on dev)
                 ("add", "residents", "皖AT2345", "--label", "flat 3"),
                 # 浙C45678 is not 浙C45671: 8/1 is not a confusion of this reader
                 ("add", "residents", "浙C45671", "--label", "flat 9"),
                 ("create", "banned", "--kind", "deny", "--max-distance", "0", "--camera", "gate_in"),
                 ("add", "banned", "京B6789C", "--label", "stolen")):
        res = alprd("plates", *args, "--url", url)
        assert res.returncode == 0, res.stderr


def test_one_visit_per_car_with_its_dwell_and_list_matches_on_every_sink(tmp_path, rendered, lists_db):
    db, state, port = tmp_path / "alprd.db", tmp_path / "state", free_port()
    prepare_lists(db, lists_db)
    cfg = config(tmp_path / "alprd.yaml", [
        cam("gate_in", timed_video(tmp_path / "in.mp4", 1.0, rendered), "entry"),
        cam("gate_out", timed_video(tmp_path / "out.mp4", 1.0 + EXIT_AFTER_S, rendered), "exit"),
    ], state=state, db=db, bus_port=port)
    sub = Subscriber(f"tcp://127.0.0.1:{port}", topic="")
    try:
        # --keep-running, stopped once every visit closed: an orderly stop at the end of the files
        # drains waiting frames for at most 30 s, which a loaded test machine may need longer for
        d = DaemonProcess(cfg, tmp_path, "--no-pace", "--keep-running")
        try:
            d.wait_for(lambda: len(sub.events("visit.closed")) >= 3, 400, "three visits closed")
            d.signal(signal.SIGTERM)
            assert d.wait(120) == 0, d.stderr[-4000:]
        finally:
            d.close()
    finally:
        sub.close()
    assert "Traceback" not in d.stderr, d.stderr[-4000:]
    jsonl = state / "events.jsonl"
    finals = events(jsonl, "plate.final")
    assert sorted((e["camera_id"], e["plate"]) for e in finals) == sorted(
        [("gate_in", t) for t in TEXTS] + [("gate_out", t) for t in TEXTS])
    assert {e["travel"] for e in finals} == {"in"}  # left to right, the cameras' in direction
    # list matches: one per vehicle and list, on the bus, in SQL and in the JSONL file alike
    want = [("banned", "京B6789C", "京B6789C", 0.0), ("residents", "皖AT2345", "皖A12345", 0.58)]
    for source in (sub.events("plate.match"), events(jsonl, "plate.match"), rows(db, "plate_matches")):
        assert sorted((m["list_name"], m["entry_plate"], m["read"], m["distance"]) for m in source) == want
    # visits: exactly one per car, closed by the exit camera with the stream-time dwell
    visits = rows(db, "visits")
    assert sorted(v["plate"] for v in visits) == sorted(TEXTS)
    for v in visits:
        assert (v["status"], v["outcome"]) == ("closed", "exited"), v
        assert abs(v["dwell_s"] - EXIT_AFTER_S) < 15, v  # both files start within seconds of each other
    assert len(sub.events("visit.open")) == 3 and len(sub.events("visit.closed")) == 3
    assert len(events(jsonl, "visit.closed")) == 3
    # the CLI answers from SQL
    res = alprd("visits", "--json", "--url", f"sqlite:///{db}")
    assert res.returncode == 0 and len(res.stdout.splitlines()) == 3, res.stderr
    res = alprd("visits", "--open", "--json", "--url", f"sqlite:///{db}")
    assert res.returncode == 0 and res.stdout == "", res.stderr


def test_database_down_and_a_kill_between_entry_and_exit_lose_nothing(tmp_path, rendered, lists_db):
    """The entry daemon runs with the database locked and is killed (-9) once the visits opened;
    a daemon restarted for the exit camera, database still down at its start, knows the cars
    inside from its spool and closes each visit once; SQL ends with every row exactly once."""
    db, state, port = tmp_path / "alprd.db", tmp_path / "state", free_port()
    prepare_lists(db, lists_db)
    entry = cam("gate_in", timed_video(tmp_path / "in.mp4", 1.0, rendered), "entry")
    exit_ = cam("gate_out", timed_video(tmp_path / "out.mp4", 1.0 + EXIT_AFTER_S, rendered), "exit")
    lock = sqlite3.connect(str(db), isolation_level=None, timeout=1)
    lock.execute("BEGIN EXCLUSIVE")  # the database is down for the daemon
    sub = Subscriber(f"tcp://127.0.0.1:{port}", topic="")
    try:
        d = DaemonProcess(config(tmp_path / "in.yaml", [entry], state=state, db=db, bus_port=port),
                          tmp_path, "--no-pace", "--keep-running")
        try:
            d.wait_for(lambda: len(sub.events("visit.open")) == 3, 400, "three visits opened")
        finally:
            d.kill()
            d.close()
        d = DaemonProcess(config(tmp_path / "out.yaml", [exit_], state=state, db=db, bus_port=port),
                          tmp_path, "--no-pace", "--keep-running")
        try:
            d.wait_for(lambda: len(sub.events("visit.closed")) == 3, 400, "three visits closed")
            lock.rollback()  # the database is back
            d.wait_for(lambda: [v["status"] for v in rows(db, "visits")] == ["closed"] * 3
                       and len(rows(db, "plate_matches")) == 2, 60, "the spool written to SQL")
            d.signal(signal.SIGTERM)
            assert d.wait(120) == 0, d.stderr[-4000:]
        finally:
            d.close()
    finally:
        lock.close()
        sub.close()
    closed = sub.events("visit.closed")
    assert sorted(e["outcome"] for e in closed) == ["exited"] * 3
    assert sorted(e["visit_id"] for e in closed) == sorted(e["visit_id"] for e in sub.events("visit.open"))
    visits = rows(db, "visits")
    assert len(visits) == 3 and {(v["status"], v["outcome"]) for v in visits} == {("closed", "exited")}
    assert all(v["dwell_s"] >= EXIT_AFTER_S for v in visits)  # the restart only adds to it
    matches = rows(db, "plate_matches")
    assert sorted(m["list_name"] for m in matches) == ["banned", "residents"]
    assert len({m["event_id"] for m in matches}) == 2
