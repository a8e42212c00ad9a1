"""run_decoder with the motion gate and key-frame-only decoding while idle (defaults.decode): a
still lane costs key frames only, and a car arriving into it is still read (test_motion's scene,
ring, tracker and pixel "detector")."""
from __future__ import annotations

import threading

import pytest

from alprd.config import CameraConfig, CameraDefaults, DecodeConfig
from alprd.stream.decoder import DecoderStats, run_decoder
from .test_motion import FPS, ON, PLATE, SIZE, Pipeline, scene
from videos import make_video


@pytest.fixture(scope="module")
def arrival_video(tmp_path_factory):
    """A still, empty lane for 3.3 s, then a car drives in over 1 s and parks to the end (6 s);
    a key frame every second."""
    def car_x(t):
        return None if t < 3.3 else -150 + min(1.0, t - 3.3) * 300
    return make_video(tmp_path_factory.mktemp("idle") / "arrive.mp4", frames=6 * FPS, size=SIZE,
                      fps=FPS, draw=scene(car_x))


def run(video, decode: DecodeConfig) -> tuple[Pipeline, dict]:
    camera = CameraConfig(id="lane1", url=str(video), motion=ON)
    pipe, stats = Pipeline(camera.id), DecoderStats()
    run_decoder(camera, CameraDefaults(decode=decode), 10.0, pipe, threading.Event(), stats, realtime=False)
    pipe.events += pipe.tracker.flush()
    pipe.reader.close()
    return pipe, stats.snapshot()


def test_an_idle_lane_decodes_key_frames_only_and_an_arriving_car_is_still_read(arrival_video):
    full, full_stats = run(arrival_video, DecodeConfig())
    idle, idle_stats = run(arrival_video, DecodeConfig(idle_keyframes_after_s=1.0))
    assert full_stats["decoded"] == 6 * FPS
    # idle from 1 s of stillness until the key frame at 4 s shows the car: ~2 s of 25 frames saved
    assert idle_stats["decoded"] <= 6 * FPS - 40, idle_stats
    assert [e.plate for e in full.finals()] == [PLATE]
    assert [e.plate for e in idle.finals()] == [PLATE]
    # from the key frame that showed it, the moving car was decoded and inferred frame by frame
    # (then it parked, the lane went still and idle again)
    seen = [t for t, plate in idle.inferred if plate]
    assert len(seen) >= 4 and max(b - a for a, b in zip(seen, seen[1:4])) < 0.15, seen
