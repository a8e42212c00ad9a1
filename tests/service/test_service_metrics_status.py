"""The Prometheus endpoint scraped over HTTP from a real daemon run, and `alprd status` (table
and --json) reading the same figures from stats.json."""
from __future__ import annotations

import json
import signal

import pytest

from helpers_daemon import DaemonProcess, run_alprd, stats
from helpers_service import scrape, service_config


def test_metrics_endpoint_counts_frames_and_status_shows_the_same(tmp_path, svc_weights, loop_video):
    state = tmp_path / "state"
    cams = [{"id": "gate", "url": str(loop_video), "loop": True, "fps": 8},
            {"id": "dead", "url": "rtsp://127.0.0.1:9/nothing"}]  # nobody listens: a camera down
    cfg = service_config(tmp_path / "alprd.yaml", cams, state_dir=state, weights=svc_weights, metrics=True,
                         tracking={"max_unseen_s": 30.0})
    d = DaemonProcess(cfg, tmp_path)
    try:
        url = d.wait_for(lambda: (state / "stats.json").exists() and stats(state).get("metrics_url"), 60,
                         "the metrics url in stats.json")
        assert url.startswith("http://127.0.0.1:")  # loopback by default
        d.wait_for(lambda: scrape(url).get('alprd_frames_processed_total{camera="gate"}', 0) >= 10, 60,
                   "ten processed frames on the endpoint")
        d.wait_for(lambda: scrape(url).get('alprd_events_total{camera="gate",kind="plate.preview"}') == 1, 30,
                   "the preview counted")
        m = scrape(url)
        assert m['alprd_camera_connected{camera="gate"}'] == 1.0
        assert m['alprd_camera_connected{camera="dead"}'] == 0.0
        assert m['alprd_frames_decoded_total{camera="gate"}'] >= m['alprd_frames_processed_total{camera="gate"}']
        assert m['alprd_tracks_open{camera="gate"}'] == 1.0
        assert m["alprd_inference_batch_seconds_count"] >= 1 and m["alprd_inference_batch_seconds_sum"] > 0
        assert m['alprd_inference_batch_seconds_bucket{le="+Inf"}'] == m["alprd_inference_batch_seconds_count"]
        assert m["alprd_inference_batch_size_sum"] >= m["alprd_inference_batch_size_count"] >= 1
        assert 'alprd_frames_waiting{camera="gate"}' in m and "alprd_frames_in_flight" in m
        assert m['alprd_frames_dropped_total{camera="gate",reason="lost"}'] == 0.0
        assert m['alprd_sink_events_total{outcome="published",sink="jsonl"}'] >= 1
        assert m['alprd_sink_queue{sink="jsonl"}'] >= 0 and 'alprd_sink_lag_seconds{sink="jsonl"}' in m
        assert m['alprd_up{state="running"}'] == 1.0 and m["alprd_healthy"] == 1.0
        assert m["alprd_process_resident_memory_bytes"] > 0

        d.wait_for(lambda: stats(state)["cameras"]["gate"]["processed"] >= 10, 30, "stats.json to catch up")
        res = run_alprd("status", "-c", str(cfg), "--json", cwd=tmp_path)
        assert res.returncode == 0, res.stderr
        s = json.loads(res.stdout)
        assert s["running"] and s["healthy"] and s["pid"] == d.proc.pid
        assert s["cameras"]["gate"]["connected"] and not s["cameras"]["dead"]["connected"]
        res = run_alprd("status", "-c", str(cfg), cwd=tmp_path, extra_env={"COLUMNS": "60"})
        assert res.returncode == 0, res.stderr
        out = res.stdout
        assert "running" in out and "gate" in out and "dead" in out and "down" in out and "jsonl" in out, out
        d.signal(signal.SIGTERM)
        assert d.wait(60) == 0, d.stderr[-3000:]
    finally:
        d.close()
    with pytest.raises(OSError):
        scrape(url)  # the endpoint went with the daemon
    res = run_alprd("status", "--state-dir", str(state), cwd=tmp_path)
    assert res.returncode == 3 and "stopped" in res.stdout, (res.returncode, res.stdout, res.stderr)
    assert run_alprd("status", "--state-dir", str(tmp_path / "nowhere")).returncode == 3


def test_metrics_off_by_default_and_a_taken_port_is_survivable(tmp_path, svc_weights, loop_video):
    import socket

    from alprd.config import parse_config

    assert parse_config({"cameras": [{"id": "a", "url": "x.mp4"}]}).metrics.enabled is False
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    state = tmp_path / "state"
    cfg = service_config(tmp_path / "alprd.yaml", [{"id": "gate", "url": str(loop_video)}], state_dir=state,
                         weights=svc_weights, metrics=True)
    text = cfg.read_text().replace("port: 0", f"port: {port}")
    cfg.write_text(text)
    try:
        res = run_alprd("run", "-c", str(cfg), timeout=120, cwd=tmp_path)
    finally:
        blocker.close()
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"metrics: cannot listen on 127.0.0.1:{port}" in res.stderr
    assert stats(state)["frames"]["processed"] >= 1 and stats(state)["metrics_url"] is None
