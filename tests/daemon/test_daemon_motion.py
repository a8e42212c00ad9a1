"""`alprd run` with the motion gate on: the decoder's marks reach the main process, keep a still
camera alive (not "silent") and keep its parked plate's track open.

Rigged weights read one plate "A" at a fixed place in every inferred frame; the video is a still
scene. max_unseen_s (0.5 s) is shorter than the gate's min_interval_s (2 s): a daemon that took a
gated camera for a silent one, or ended tracks between inferred frames, would give several finals.
"""
from __future__ import annotations

import json

import numpy as np

from helpers_daemon import run_alprd, stats, write_config
from videos import make_video


def _still(size=(320, 240)):
    bg = np.random.default_rng(3).integers(20, 90, size=(size[1], size[0], 3), dtype=np.uint8)
    return lambda i: bg


def test_a_still_scene_under_gating_gives_one_final_and_is_mostly_not_inferred(tmp_path, rigged_weights):
    video = make_video(tmp_path / "still.mp4", frames=8 * 25, size=(320, 240), fps=25, draw=_still())
    state = tmp_path / "state"
    cfg = write_config(tmp_path / "alprd.yaml", [{"id": "lot", "url": str(video)}], state_dir=state,
                       weights=rigged_weights, tracking={"max_unseen_s": 0.5},
                       defaults={"motion": {"enabled": True, "min_interval_s": 2.0}})
    res = run_alprd("run", "-c", str(cfg), timeout=180, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    finals = [e for e in events if e["kind"] == "plate.final"]
    assert [e["plate"] for e in finals] == ["A"], events
    frames = stats(state)["frames"]
    # 8 s at 10 fps: about 80 sampled, one inferred every 2 s (plus the first)
    assert frames["gated"] >= 50 and frames["processed"] <= 15, frames
    assert frames["gated"] + frames["received"] >= 75, frames
