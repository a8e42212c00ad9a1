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
