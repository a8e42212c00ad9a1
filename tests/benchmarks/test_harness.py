"""benchmarks/harness.py, the one way tests and benchmarks write configs and launch daemons."""
from __future__ import annotations

import signal

import yaml

from alprd.config import load_config
from benchmarks import harness


def test_config_merges_sections_key_by_key_onto_one_base(tmp_path):
    doc = harness.config([{"id": "a", "url": "a.mp4"}], state_dir=tmp_path / "state", weights="w.pt",
                         inference={"threads": 1}, sinks={"sql": {"enabled": True, "url": "sqlite:///x.db"}},
                         tracking=None)
    assert doc["inference"] == {"device": "cpu", "weights": "w.pt", "threads": 1}
    assert doc["sinks"]["sql"] == {"enabled": True, "url": "sqlite:///x.db"}
    assert doc["sinks"]["jsonl"] == {"enabled": True, "path": "events.jsonl"} and "tracking" not in doc
    path = harness.write_config(tmp_path / "alprd.yaml", doc)
    assert yaml.safe_load(path.read_text()) == doc
    cfg = load_config(path)  # what the harness writes is a valid configuration
    assert cfg.cameras[0].id == "a" and cfg.sinks.sql.enabled


def test_a_daemon_is_ready_when_its_own_stats_say_running_and_stops_on_sigterm(tmp_path, video_file):
    cfg = harness.write_config(tmp_path / "alprd.yaml", harness.config(
        [{"id": "a", "url": str(video_file), "loop": True}], state_dir=tmp_path / "state",
        inference={"threads": 1}, defaults={"fps": 2}))
    with harness.Daemon(cfg, tmp_path) as d:
        snap = d.wait_ready(300)
        assert snap["pid"] == d.proc.pid and snap["state"] == "running"
        d.signal(signal.SIGTERM)
        assert d.wait(120) == 0, d.stderr[-3000:]
    assert d.stats()["final"] is True


def test_distant_cars_counts_when_and_how_often_each_car_is_read_right():
    from benchmarks.distant_cars import CarReads

    seen = CarReads([{"enter": 1.0, "leave": 4.0, "text": "皖A11111"}, {"enter": 5.0, "leave": 8.0, "text": "皖B22222"}])
    seen.note(0.5, ["皖A11111"])                 # before the car appeared: not its read
    seen.note(1.5, ["皖A1111"])                  # misread
    seen.note(2.0, ["皖A11111", "junk"])
    seen.note(2.5, ["皖A11111"])
    seen.note(4.5, ["皖A11111"])                 # it has left
    s = seen.summary()
    assert s["cars_read"] == 1 and s["right_reads"] == 2 and s["mean_first_right_read_s"] == 1.0
    assert s["per_car"] == {"皖A11111": {"first_right_read_s": 1.0, "right_reads": 2},
                            "皖B22222": {"first_right_read_s": None, "right_reads": 0}}
