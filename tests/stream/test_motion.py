"""The motion gate (alprd.stream.motion) in the decoder loop, and the tracker behind it.

Real H.264 videos of a still car park (PyAV encodes and decodes them), run_decoder writing the real
shared-memory ring, and a real Tracker. The "detector" reads the frame's pixels out of the ring
(the one bright plate-sized blob of the scene), so a frame the gate holds back is a frame nothing
is read from, exactly as in the daemon.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

from alprd.config import CameraConfig, CameraDefaults, MotionConfig, Rect, TrackingConfig
from alprd.events import FrameResult, PlateRead
from alprd.stream.decoder import gate_params, run_decoder
from alprd.stream.motion import GateParams, MotionGate
from alprd.stream.ring import RingReader
from alprd.track.tracker import Tracker
from videos import make_video

SIZE = (480, 270)
FPS = 25
PLATE = "ABC1234"
ON = MotionConfig(enabled=True, min_interval_s=1.0)


def _background() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(20, 90, size=(SIZE[1], SIZE[0], 3), dtype=np.uint8)


def scene(car_x) -> callable:
    """draw(i) for make_video: the still background, a little sensor noise, and a grey car with a
    white plate whose left edge is at car_x(t) (None: no car) for t = i / FPS seconds."""
    bg = _background()

    def draw(i: int) -> np.ndarray:
        rng = np.random.default_rng(1000 + i)
        img = np.clip(bg.astype(np.int16) + rng.integers(-3, 4, size=bg.shape), 0, 255).astype(np.uint8)
        x = car_x(i / FPS)
        if x is not None:
            x = int(x)
            img[120:230, max(0, x):max(0, x + 150)] = 120
            img[190:214, max(0, x + 45):max(0, x + 105)] = 255
        return img
    return draw


def detect(img: np.ndarray) -> tuple[PlateRead, ...]:
    """The plate is the only white in the scene: its bounding box, read as PLATE."""
    ys, xs = np.nonzero(img[..., 1] > 220)
    if len(xs) < 200:
        return ()
    x0, y0, x1, y1 = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
    corners = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    return (PlateRead(corners=corners, det_conf=0.9, text=PLATE, char_confs=(0.95,) * len(PLATE)),)


class Pipeline:
    """run_decoder's out_queue: each descriptor read from the ring at once and tracked, as the
    daemon does (inferred frames → Tracker.update, the gate's marks → Tracker.still)."""

    def __init__(self, camera_id: str, miss=lambda n: False) -> None:
        self.reader = RingReader()
        self.tracker = Tracker(camera_id, TrackingConfig())
        self.miss = miss  # n-th inferred frame → the detector misses it (a flaky detector)
        self.events, self.inferred, self.marked = [], [], []

    def put_nowait(self, ref) -> None:
        if ref.gate == "moved":
            self.tracker.moved(ref.timestamp)
        if ref.unchanged:
            self.marked.append(ref.timestamp)
            self.tracker.still(ref.timestamp)
            return
        img = self.reader.read(ref)
        assert img is not None
        reads = () if self.miss(len(self.inferred)) else detect(img)
        self.inferred.append((ref.timestamp, bool(detect(img))))
        self.events += self.tracker.update(FrameResult(ref.camera_id, ref.seq, ref.timestamp,
                                                       SIZE[0], SIZE[1], reads))

    def finals(self):
        return [e for e in self.events if e.kind == "plate.final"]


def run(video, motion: MotionConfig | None, miss=lambda n: False, roi=None) -> Pipeline:
    camera = CameraConfig(id="lane1", url=str(video), motion=motion, roi=roi)
    pipe = Pipeline(camera.id, miss)
    run_decoder(camera, CameraDefaults(), 10.0, pipe, threading.Event(), realtime=False)
    pipe.events += pipe.tracker.flush()
    pipe.reader.close()
    return pipe


def _arrive_park_leave(t: float):
    """Drives in over 1 s from t=1, parked 2.0-10.0 s, drives out over 1 s; 13 s of video."""
    if t < 1.0 or t > 11.0:
        return None
    if t < 2.0:
        return -150 + (t - 1.0) * 300
    if t < 10.0:
        return 150
    return 150 + (t - 10.0) * 340


@pytest.fixture(scope="module")
def parking_video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("motion") / "park.mp4", frames=13 * FPS, size=SIZE,
                      fps=FPS, draw=scene(_arrive_park_leave))


@pytest.fixture(scope="module")
def pass_by_video(tmp_path_factory):
    """A still, empty lane for 4 s, then a car crossing the frame in 0.8 s, then still again."""
    def car_x(t):
        return None if not 4.0 <= t <= 4.8 else -150 + (t - 4.0) * 780
    return make_video(tmp_path_factory.mktemp("motion") / "pass.mp4", frames=7 * FPS, size=SIZE,
                      fps=FPS, draw=scene(car_x))


def test_parked_car_gives_exactly_one_final_when_it_leaves(parking_video):
    # The detector misses the parked car on three of every four inferred frames: without the gate's
    # marks keeping it seen, 3 s gaps (> max_unseen_s) would end the track and start another.
    pipe = run(parking_video, ON, miss=lambda n: 12 < n < 20 and n % 4 != 0)
    finals = pipe.finals()
    assert [e.plate for e in finals] == [PLATE], pipe.events
    assert [e.plate for e in pipe.events if e.kind == "plate.preview"] == [PLATE]
    # most of the parked time was not inferred, and the final ends when the car left, not before
    assert len(pipe.marked) > 50, (len(pipe.marked), len(pipe.inferred))
    first_ts = min([t for t, _ in pipe.inferred] + pipe.marked)
    assert finals[0].last_seen.timestamp() - first_ts > 9.5


def test_car_arriving_into_a_still_scene_is_read(pass_by_video):
    pipe = run(pass_by_video, ON)
    assert [e.plate for e in pipe.finals()] == [PLATE]
    # every sampled frame that showed the plate was inferred (within one frame of the car moving)
    with_plate = [t for t, seen in pipe.inferred if seen]
    assert len(with_plate) >= 5
    assert pipe.marked, "the still lane was never gated"
    first, last = min(with_plate), max(with_plate)
    assert not [t for t in pipe.marked if first <= t <= last]


def test_gating_off_gives_the_same_events_as_without_a_gate(parking_video):
    off = run(parking_video, MotionConfig(enabled=False))
    assert not off.marked
    # "today": every sampled frame inferred, read straight from the source
    from alprd.stream.source import FrameSource
    tracker, events = Tracker("lane1", TrackingConfig()), []
    for seq, ts, img in FrameSource(str(parking_video), 10.0):
        events += tracker.update(FrameResult("lane1", seq, ts, SIZE[0], SIZE[1], detect(img)))
    events += tracker.flush()
    # timestamps are anchored to the wall clock at each run's first frame: compare durations
    strip = lambda evs: [(e.kind, e.plate, e.reads, round((e.last_seen - e.first_seen).total_seconds(), 3))  # noqa: E731
                         for e in evs]
    assert strip(off.events) == strip(events)
    assert len(off.inferred) == 130  # every sampled frame of 13 s at 10 fps
    assert [e.plate for e in off.finals()] == [PLATE]


def test_defaults_motion_is_off_and_a_camera_overrides_it():
    cam = CameraConfig(id="c", url="x.mp4", roi=Rect(x=10, y=20, width=100, height=50))
    assert gate_params(cam, CameraDefaults()).enabled is False
    on = gate_params(cam, CameraDefaults(motion=ON))
    assert on.enabled and on.roi == (10, 20, 100, 50)
    off = gate_params(cam.model_copy(update={"motion": MotionConfig()}), CameraDefaults(motion=ON))
    assert not off.enabled


def test_gate_looks_only_within_the_roi_and_lets_a_frame_through_every_min_interval():
    bg = _background()
    gate = MotionGate(GateParams(enabled=True, min_interval_s=1.0, roi=(0, 0, 200, 270)))
    assert gate.changed(bg, 0.0)          # the first frame is always looked at
    assert not gate.changed(bg, 0.1)      # nothing moved
    outside = bg.copy()
    outside[50:200, 300:450] = 255        # a big change, outside the ROI
    assert not gate.changed(outside, 0.2)
    inside = bg.copy()
    inside[100:130, 20:60] = 255          # a small plate-sized change inside it
    assert gate.changed(inside, 0.3)
    assert not gate.changed(inside, 0.4)  # compared with the last frame let through
    assert gate.changed(inside, 1.3)      # min_interval_s passed: looked at anyway
    assert (gate.passed, gate.gated) == (3, 3)


def test_gate_threshold_is_configurable():
    bg = _background()
    small = bg.copy()
    small[0:12, 0:12] = 255               # a small change
    strict = MotionGate(GateParams(enabled=True, threshold=0.5))
    loose = MotionGate(GateParams(enabled=True, threshold=0.0005))
    for gate in (strict, loose):
        gate.changed(bg, 0.0)
    assert not strict.changed(small, 0.1)
    assert loose.changed(small, 0.1)


def test_invalid_motion_settings_are_refused():
    with pytest.raises(ValueError, match="threshold"):
        MotionConfig(threshold=0)
