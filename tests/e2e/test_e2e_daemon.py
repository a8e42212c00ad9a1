"""`alprd run` end to end, as a user runs it: a subprocess, a config file, real videos.

Events need a model that reads. Until trained weights ship, these tests use the rigged weights
(tests/daemon/helpers_daemon.py: one plate "A" at a fixed place in every frame, so one
stationary track per camera) to drive the whole event path, and the assertions that need real
reading (a rendered plate passing, the sample video's plate) are skipped with the reason.
"""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from helpers_daemon import (RIGGED_TEXT, DaemonProcess, children_named, events, moving_square_frame,
                            run_alprd, stats, write_config)
from videos import make_video

ROOT = Path(__file__).resolve().parents[2]
NOT_TRAINED = "no trained weights shipped yet: the random model reads no plate"


def _has_sdnotify() -> bool:
    try:
        import alprd.process.sdnotify  # noqa: F401  (the service issue's module)
    except ImportError:
        return False
    return True


def _no_tracebacks(text: str) -> None:
    assert "Traceback" not in text, text[-4000:]


def test_file_source_gives_one_final_per_track_and_exits_0(tmp_path, e2e_rigged_weights):
    video = make_video(tmp_path / "clip.mp4", frames=50, size=(320, 240), fps=25,
                       draw=moving_square_frame((320, 240)))
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "alprd.yaml", [
        {"id": "gate", "url": str(video)},
        # the rigged plate's centre is at (5, -35) in a 320x240 frame: outside this polygon
        {"id": "yard", "url": str(video), "polygon": [[100, 100], [300, 100], [300, 230]]},
    ], state_dir=state, weights=e2e_rigged_weights, tracking={"max_unseen_s": 5.0})
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # what systemd listens on (Type=notify)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.setblocking(False)
    try:
        res = run_alprd("run", "-c", str(cfg), timeout=90, cwd=tmp_path,
                        extra_env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
        told = []
        while True:
            try:
                told.append(notify.recv(4096).decode())
            except BlockingIOError:
                break
    finally:
        notify.close()
    assert res.returncode == 0, res.stderr[-4000:]
    _no_tracebacks(res.stderr)
    if _has_sdnotify():
        # STATUS while the model loads, READY=1 once frames come back, STOPPING=1 last
        ready = [i for i, m in enumerate(told) if m.startswith("READY=1")]
        assert ready and told[-1] == "STOPPING=1" and ready[0] < len(told) - 1, told
    evs = events(state / "events.jsonl")
    finals = [e for e in evs if e["kind"] == "plate.final"]
    assert [(e["camera_id"], e["track_id"], e["plate"]) for e in finals] == [("gate", 1, RIGGED_TEXT)]
    assert [e["camera_id"] for e in evs if e["kind"] == "plate.preview"] == ["gate"]
    final = finals[0]
    assert final["reads"] >= 5 and final["direction"] == "stationary"
    assert final["crop_path"] and Path(final["crop_path"]).is_file()
    assert Path(final["crop_path"]).parent.parent == state / "crops"
    # stdout (as_json) carries the same events
    assert [line for line in res.stdout.splitlines() if line.startswith("{")] == \
        (state / "events.jsonl").read_text(encoding="utf-8").splitlines()
    s = stats(state)
    assert s["final"] and s["open_tracks"] == 0
    assert s["decoders"]["gate"]["decoded"] == 50 and s["decoders"]["yard"]["decoded"] == 50
    f = s["frames"]
    assert f["received"] >= 36 and f["processed"] >= 10
    # every frame is accounted for (a busy machine may drop some, never lose them silently)
    assert f["processed"] + f["dropped"] + f["stale"] == f["received"] and f["lost"] == 0
    assert "every source has ended" in res.stderr


def _default_config_for_test(tmp_path: Path) -> Path:
    """The embedded default config, with its state, database and bus port moved out of the way."""
    data = yaml.safe_load((ROOT / "config" / "alprd.yaml").read_text(encoding="utf-8"))
    data["storage"]["state_dir"] = str(tmp_path / "var")
    data["sinks"]["sql"]["url"] = f"sqlite:///{tmp_path}/alprd.db"
    data["sinks"]["bus"]["endpoint"] = "tcp://127.0.0.1:0"
    data["inference"]["backend"] = "torch"  # skip the one-off ONNX export in a test
    data["inference"]["threads"] = 1
    data["inference"]["max_queue_ms"] = 0  # every frame is read, however loaded the machine
    data["defaults"]["ring_slots"] = 64     # ... and none is overwritten before the worker comes
    p = tmp_path / "alprd.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def test_sample_video_with_the_default_config(tmp_path, trained):
    cfg = _default_config_for_test(tmp_path)
    res = run_alprd("run", "-c", str(cfg), timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]
    _no_tracebacks(res.stderr)
    s = stats(tmp_path / "var")
    # the whole file: its 107 frames (27.9 fps) sampled at 10 fps; decode.skip_nonref (on by default)
    # leaves some of the frames between two samples undecoded, so `decoded` is not 107
    assert s["decoders"]["sample"]["sampled"] == 38 and s["decoders"]["sample"]["decoded"] <= 107
    f = s["frames"]
    assert f["received"] >= 35 and f["processed"] + f["dropped"] + f["stale"] == f["received"]
    assert (tmp_path / "var" / "events.jsonl").exists()
    assert (tmp_path / "alprd.db").exists()
    if not trained:
        pytest.skip(f"pipeline mechanics checked; plate assertions need trained weights ({NOT_TRAINED})")
    finals = events(tmp_path / "var" / "events.jsonl", "plate.final")
    assert [e["plate"] for e in finals] == ["粤LQ092V"]


def test_rendered_plates_passing_give_one_final_each(tmp_path, trained):
    if not trained:
        pytest.skip(NOT_TRAINED)
    plates = pytest.importorskip("pipelines.synth.plates")
    try:
        rng = np.random.default_rng(7)
        texts = ["皖A12345", "京B6789C"]
        rendered = [plates.render_plate(t, "blue", rng, px_per_mm=0.45) for t in texts]
    except FileNotFoundError as exc:
        pytest.skip(f"plate rendering assets missing: {exc}")
    w, h = 640, 360
    per_plate = 50  # frames each plate takes to cross

    def draw(i: int) -> np.ndarray:
        img = np.empty((h, w, 3), np.uint8)
        img[:] = np.linspace(60, 160, w, dtype=np.uint8)[None, :, None]
        k, j = divmod(i, per_plate + 10)
        if k < len(rendered) and j < per_plate:
            p = rendered[k]
            ph, pw = p.image.shape[:2]
            x = int(20 + (w - pw - 40) * j / per_plate)
            y = h // 2 - ph // 2 + (k * 40 - 20)
            a = p.alpha[..., None]
            roi = img[y:y + ph, x:x + pw]
            roi[:] = (p.image * a + roi * (1 - a)).astype(np.uint8)
        return img

    video = make_video(tmp_path / "plates.mp4", frames=2 * (per_plate + 10), size=(w, h), fps=25, draw=draw)
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "alprd.yaml", [{"id": "road", "url": str(video)}], state_dir=state,
                       tracking={"max_unseen_s": 0.5})
    res = run_alprd("run", "-c", str(cfg), timeout=120, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-4000:]
    finals = events(state / "events.jsonl", "plate.final")
    assert [e["plate"] for e in finals] == texts
    assert [e["direction"] for e in finals] == ["right", "right"]


def test_sigterm_under_load_flushes_every_open_track_even_across_a_worker_restart(tmp_path, e2e_rigged_weights):
    video = make_video(tmp_path / "loop.mp4", frames=25, size=(320, 240), fps=25,
                       draw=moving_square_frame((320, 240)))
    state = tmp_path / "state"
    cams = [{"id": f"cam{i}", "url": str(video), "loop": True, "fps": 15} for i in range(2)]
    cfg = write_config(tmp_path / "alprd.yaml", cams, state_dir=state, weights=e2e_rigged_weights,
                       tracking={"max_unseen_s": 30.0})
    jsonl = state / "events.jsonl"
    d = DaemonProcess(cfg, tmp_path)
    try:
        d.wait_for(lambda: len(events(jsonl, "plate.preview")) == 2, 60, "a preview from each camera")
        # Kill the inference worker: the supervisor restarts it and the tracks, which live in
        # the main process, carry on.
        [worker] = d.wait_for(lambda: children_named(d.proc.pid, "alprd: worker"), 10, "the worker pid")
        os.kill(worker, signal.SIGKILL)
        d.wait_for(lambda: d.stderr.count("inference worker ready") == 2, 60, "the worker's restart")
        after = stats(state)["frames"]["processed"]
        d.wait_for(lambda: stats(state)["frames"]["processed"] >= after + 15, 60, "frames through the new worker")
        assert events(jsonl, "plate.final") == []
        d.signal(signal.SIGTERM)
        assert d.wait(60) == 0, d.stderr[-4000:]
    finally:
        d.close()
    err = d.stderr
    _no_tracebacks(err)
    assert "worker exited with signal SIGKILL; restarting" in err
    assert "closing 2 open track(s)" in err and "stopping (SIGTERM received)" in err
    finals = events(jsonl, "plate.final")
    assert sorted((e["camera_id"], e["track_id"]) for e in finals) == [("cam0", 1), ("cam1", 1)]
    previews = {e["camera_id"]: e for e in events(jsonl, "plate.preview")}
    assert all(f["reads"] > previews[f["camera_id"]]["reads"] for f in finals)
    s = stats(state)
    assert s["restarts"]["worker"] == 1 and s["open_tracks"] == 0
    assert s["events"] == {"plate.preview": 2, "plate.final": 2}


def test_rtsp_server_restart_mid_run_reconnects_and_keeps_producing_events(tmp_path, rtsp_server,
                                                                         e2e_rigged_weights):
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "alprd.yaml", [{"id": "cam", "url": rtsp_server.url, "fps": 5}],
                       state_dir=state, weights=e2e_rigged_weights, tracking={"max_unseen_s": 2.5})
    jsonl = state / "events.jsonl"
    d = DaemonProcess(cfg, tmp_path)
    try:
        d.wait_for(lambda: events(jsonl, "plate.preview"), 60, "the first preview over RTSP")
        rtsp_server.stop()
        # the silent camera's track ends on its own (the main loop ages it out)
        d.wait_for(lambda: events(jsonl, "plate.final"), 20, "the final of the track cut by the outage")
        time.sleep(1.0)
        rtsp_server.start()
        d.wait_for(lambda: len(events(jsonl, "plate.preview")) == 2, 60, "a preview after reconnecting")
        d.signal(signal.SIGINT)
        assert d.wait(60) == 0, d.stderr[-4000:]
    finally:
        d.close()
    err = d.stderr
    _no_tracebacks(err)
    assert "disconnected from" in err and err.count("connected to rtsp://") >= 2
    finals = events(jsonl, "plate.final")
    assert [e["track_id"] for e in finals] == [1, 2]
    s = stats(state)
    assert s["decoders"]["cam"]["reconnects"] >= 1 and s["restarts"]["decoder:cam"] == 0


def test_corrupt_and_truncated_files_are_logged_not_fatal(tmp_path, e2e_rigged_weights):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    full = make_video(tmp_path / "full.mp4", frames=50, size=(320, 240), fps=25, faststart=True,
                      draw=moving_square_frame((320, 240)))
    truncated = tmp_path / "truncated.mp4"
    data = full.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "alprd.yaml", [{"id": "garbage", "url": str(garbage)},
                                                {"id": "truncated", "url": str(truncated)}],
                       state_dir=state, weights=e2e_rigged_weights)
    res = run_alprd("run", "-c", str(cfg), timeout=90, cwd=tmp_path)
    assert res.returncode == 66, res.stderr[-4000:]  # not fatal, but a camera gave no frame: not a success
    _no_tracebacks(res.stderr)
    assert "garbage: cannot open" in res.stderr
    s = stats(state)
    assert s["decoders"]["garbage"]["sampled"] == 0
    assert 0 < s["decoders"]["truncated"]["sampled"] < 20
    f = s["frames"]
    assert f["received"] == s["decoders"]["truncated"]["sampled"]
    assert f["processed"] + f["dropped"] + f["stale"] == f["received"]
    assert s["restarts"] == {"worker": 0, "decoder:garbage": 0, "decoder:truncated": 0}


def test_unloadable_weights_stop_the_daemon_with_one_clear_error(tmp_path):
    bad = tmp_path / "weights.pt"
    bad.write_text("these are not weights")
    video = make_video(tmp_path / "clip.mp4", frames=10, size=(160, 120))
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "alprd.yaml", [{"id": "cam", "url": str(video)}], state_dir=state,
                       weights=bad)
    res = run_alprd("run", "-c", str(cfg), timeout=90, cwd=tmp_path)
    assert res.returncode == 1, res.stderr[-4000:]
    _no_tracebacks(res.stderr)
    assert "cannot load the model" in res.stderr and "will not be restarted" in res.stderr
    assert "decoder started" not in res.stderr  # nothing else was started
    assert stats(state)["restarts"]["worker"] == 0
