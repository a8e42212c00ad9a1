"""SIGHUP against a real daemon: the camera list is reloaded — an added camera starts (with its
polygon known to the worker), a removed one stops and its open track is closed as a final event,
a changed one is restarted (its track closed, a new one opened), an unchanged one carries on
without a restart and keeps its track — and a broken file is logged and the running
configuration kept."""
from __future__ import annotations

import signal

import yaml

from helpers_daemon import DaemonProcess, events, stats
from helpers_service import NotifySocket, service_config

# the rigged plate's centre is at (5, -35) in a 320x240 frame: outside this polygon
OUTSIDE_PLATE = [[100, 100], [300, 100], [300, 230]]


def test_sighup_adds_and_removes_cameras_and_keeps_the_others_running(tmp_path, svc_weights, loop_video):
    state = tmp_path / "state"
    jsonl = state / "events.jsonl"
    cam = {"url": str(loop_video), "loop": True, "fps": 4}
    cfg_path = tmp_path / "alprd.yaml"
    service_config(cfg_path, [{"id": "keep", **cam}, {"id": "gone", **cam}, {"id": "moved", **cam}], state_dir=state,
                   weights=svc_weights, tracking={"max_unseen_s": 60.0})
    notify = NotifySocket(tmp_path / "notify.sock")
    d = DaemonProcess(cfg_path, tmp_path, extra_env={"NOTIFY_SOCKET": notify.path})
    try:
        d.wait_for(lambda: {e["camera_id"] for e in events(jsonl, "plate.preview")} == {"keep", "gone", "moved"}, 90,
                   "a preview from each camera")
        data = yaml.safe_load(cfg_path.read_text())
        data["cameras"] = [{"id": "keep", **cam}, {"id": "new", **cam}, {"id": "fenced", **cam, "polygon": OUTSIDE_PLATE},
                           {"id": "moved", **cam, "fps": 5}]
        cfg_path.write_text(yaml.safe_dump(data))
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: [e for e in events(jsonl, "plate.final") if e["camera_id"] == "gone"], 30,
                   "the removed camera's track closed")
        d.wait_for(lambda: [e for e in events(jsonl, "plate.preview") if e["camera_id"] == "new"], 60,
                   "a preview from the added camera")
        d.wait_for(lambda: stats(state)["cameras"].get("fenced", {}).get("processed", 0) >= 5, 30,
                   "frames of the fenced camera processed")
        d.wait_for(lambda: len([e for e in events(jsonl, "plate.preview") if e["camera_id"] == "moved"]) == 2, 60,
                   "a new preview from the restarted camera")
        s = stats(state)
        assert set(s["cameras"]) == {"keep", "new", "fenced", "moved"} and s["reloads"] == {"ok": 1, "failed": 0}
        assert s["restarts"].get("decoder:keep") == 0 and "decoder:gone" not in s["restarts"]

        cfg_path.write_text("cameras: [unclosed\n")  # a broken file: logged, the running config kept
        d.signal(signal.SIGHUP)
        d.wait_for(lambda: "reload failed, keeping the running configuration" in d.stderr, 20, "the failed reload")
        before = stats(state)["cameras"]["keep"]["processed"]
        d.wait_for(lambda: stats(state)["cameras"]["keep"]["processed"] > before, 30, "frames still flowing")
        d.wait_for(lambda: stats(state)["reloads"]["failed"] == 1, 10, "the failure counted")
        d.signal(signal.SIGTERM)
        assert d.wait(60) == 0, d.stderr[-3000:]
    finally:
        d.close()
        notify.close()
    err = d.stderr
    assert "Traceback" not in err, err[-3000:]
    assert err.count("keep: decoder started") == 1  # never restarted
    starts = [line for line in err.splitlines() if "moved: decoder started" in line]
    assert len(starts) == 2 and ", 4 fps," in starts[0] and ", 5 fps," in starts[1], starts
    assert "reloading" in err and "added new, fenced; removed gone; restarted moved; unchanged keep" in err
    finals = events(jsonl, "plate.final")
    assert sorted((e["camera_id"], e["track_id"]) for e in finals) == [
        ("gone", 1), ("keep", 1), ("moved", 1), ("moved", 1), ("new", 1)]  # a restarted camera's ids start again
    assert [e["camera_id"] for e in events(jsonl) if e["camera_id"] == "fenced"] == []  # its polygon applied
    texts = notify.texts()
    reloading = [i for i, m in enumerate(texts) if m.startswith("RELOADING=1")]
    assert len(reloading) == 2 and "MONOTONIC_USEC=" in texts[reloading[0]]
    assert all(texts[i + 1].startswith("READY=1") for i in reloading), texts
