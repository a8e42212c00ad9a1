"""The inference worker: batching, ROI crop + corner offset, polygon filter, and the real worker
process reading frames of two cameras out of real shared-memory rings."""
from __future__ import annotations

import logging
import multiprocessing.connection
import time

import numpy as np
import pytest

from alprd.config import CameraConfig, InferenceConfig
from alprd.infer.worker import Batcher, CameraGeometry, InferenceEngine
from alprd.messages import Frames, Results
from alprd.process.supervisor import ProcessSpec, RestartPolicy, Supervisor
from alprd.stream.ring import FrameRing
from helpers_daemon import RIGGED_TEXT


# -- Batcher (pure) ----------------------------------------------------------------------------

def test_batcher_releases_a_full_batch_at_once():
    b = Batcher(max_batch=3, max_wait_s=10.0)
    for i in range(4):
        b.add(i, now=0.0)
    assert b.due(0.0) and b.time_left(0.0) == 0.0
    assert b.take(0.0) == [0, 1, 2]
    assert len(b) == 1 and not b.due(0.0)


def test_batcher_honours_max_wait_from_the_oldest_item():
    b = Batcher(max_batch=8, max_wait_s=0.05)
    assert b.time_left(0.0) is None and not b.due(0.0)
    b.add("a", now=1.00)
    b.add("b", now=1.04)
    assert not b.due(1.049)
    assert b.time_left(1.02) == pytest.approx(0.03)
    assert b.due(1.05)
    assert b.take(1.05) == ["a", "b"] and b.time_left(1.05) is None


# -- InferenceEngine with the real Recognizer -----------------------------------------------------

class CountingRecognizer:
    """The real Recognizer, with a record of how many frames each call got."""

    def __init__(self, real):
        self.real = real
        self.calls: list[list[tuple[int, int]]] = []

    def recognize(self, frames, streams=None):
        self.calls.append([f.shape[:2] for f in frames])
        return self.real.recognize(frames, streams)


def _frame(w=512, h=512, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_frames_of_two_cameras_go_through_one_recognize_call(rigged_recognizer):
    rec = CountingRecognizer(rigged_recognizer)
    engine = InferenceEngine(rec, {})
    results = engine.process([("a", 5, 100.0, _frame(320, 240)), ("b", 9, 100.1, _frame(512, 512)),
                              ("a", 6, 100.2, _frame(320, 240))])
    assert rec.calls == [[(240, 320), (512, 512), (240, 320)]]
    assert [(r.camera_id, r.seq, r.timestamp, r.width, r.height) for r in results] == [
        ("a", 5, 100.0, 320, 240), ("b", 9, 100.1, 512, 512), ("a", 6, 100.2, 320, 240)]
    assert all(len(r.reads) == 1 and r.reads[0].text == RIGGED_TEXT for r in results)


def test_roi_is_cropped_before_detection_and_corners_come_back_in_frame_pixels(rigged_recognizer):
    rec = CountingRecognizer(rigged_recognizer)
    cam = CameraConfig(id="c", url="x.mp4", roi={"x": 100, "y": 50, "width": 256, "height": 256})
    engine = InferenceEngine.from_config(rec, [cam])
    frame = _frame(512, 512)
    [result] = engine.process([("c", 0, 1.0, frame)])
    assert rec.calls == [[(256, 256)]]  # the detector saw the ROI only
    [direct] = rigged_recognizer.recognize([frame[50:306, 100:356].copy()])[0:1]
    expected = np.asarray(direct[0].corners) + (100, 50)
    np.testing.assert_allclose(np.asarray(result.reads[0].corners), expected, atol=1e-3)
    assert (result.width, result.height) == (512, 512)


def test_roi_outside_the_frame_falls_back_to_the_whole_frame(rigged_recognizer, caplog):
    rec = CountingRecognizer(rigged_recognizer)
    cam = CameraConfig(id="c", url="x.mp4", roi={"x": 4000, "y": 0, "width": 100, "height": 100})
    engine = InferenceEngine.from_config(rec, [cam])
    with caplog.at_level(logging.WARNING):
        engine.process([("c", 0, 1.0, _frame(320, 240))])
        engine.process([("c", 1, 1.1, _frame(320, 240))])
    assert rec.calls == [[(240, 320)], [(240, 320)]]
    assert sum("lies outside" in r.message for r in caplog.records) == 1  # said once


def test_reads_outside_the_polygon_are_dropped(rigged_recognizer):
    frame = _frame(512, 512)
    # The rigged plate's centre on a 512x512 frame is (8, 8).
    inside = CameraConfig(id="in", url="x.mp4", polygon=[(0, 0), (64, 0), (64, 64), (0, 64)])
    outside = CameraConfig(id="out", url="x.mp4", polygon=[(100, 100), (500, 100), (500, 500)])
    engine = InferenceEngine.from_config(rigged_recognizer, [inside, outside])
    r_in, r_out = engine.process([("in", 0, 1.0, frame), ("out", 0, 1.0, frame)])
    assert len(r_in.reads) == 1 and r_out.reads == ()
    assert engine.filtered == 1


def test_geometry_clamps_the_roi():
    g = CameraGeometry(roi=(100, 100, 1000, 1000))
    assert g.crop_box(640, 480) == (100, 100, 640, 480)
    assert CameraGeometry().crop_box(640, 480) is None


# -- the worker process -----------------------------------------------------------------------

def _worker_process(rigged_weights, max_wait_ms, lanes=1):
    """The real worker process (spawned by the real supervisor) with max_batch=2 (one lane: its
    batches wait for max_batch or max_wait; several lanes read as soon as they are free)."""
    from alprd.infer.worker import run_worker

    inference = InferenceConfig(device="cpu", backend="torch", weights=str(rigged_weights),
                                max_batch=2, max_wait_ms=max_wait_ms, threads=1, lanes=lanes)
    cams = [CameraConfig(id="a", url="a.mp4"), CameraConfig(id="b", url="b.mp4")]
    sup = Supervisor([ProcessSpec("worker", run_worker,
                                  kwargs=dict(inference=inference, cameras=cams, crops=False),
                                  restart=RestartPolicy("never"), torch_threads=1, wait_ready=True,
                                  ready_timeout_s=60)])
    try:
        assert sup.start_all(), "worker did not start"
        yield sup
    finally:
        sup.stop_all()
        sup.kill_all()


@pytest.fixture(scope="module")
def worker(rigged_weights):
    """The worker with max_batch=2, max_wait=1 s."""
    yield from _worker_process(rigged_weights, 1000)


@pytest.fixture(scope="module")
def two_lanes(rigged_weights):
    """The worker with two lanes and max_wait an hour (which lanes do not wait for)."""
    yield from _worker_process(rigged_weights, 3_600_000, lanes=2)


@pytest.fixture(scope="module")
def patient_worker(rigged_weights):
    """The worker with max_batch=2 and max_wait an hour: a batch comes back only when full."""
    yield from _worker_process(rigged_weights, 3_600_000)


_RECEIVED: dict[int, list] = {}   # per supervisor, Results read but not yet asked for


def _next_results(sup, timeout):
    """The worker's next Results (several may arrive in one read: lanes answer on their own)."""
    got = _RECEIVED.setdefault(id(sup), [])
    deadline = time.monotonic() + timeout
    while not got and time.monotonic() < deadline:
        ready = multiprocessing.connection.wait(sup.waitables(), 0.05)
        got += [(msg.results, msg.stats) for _, msg in sup.receive(ready) if isinstance(msg, Results)]
        sup.poll()
    if not got:
        raise AssertionError("no results from the worker")
    return got.pop(0)


def test_worker_batches_frames_of_two_cameras_without_waiting_for_max_wait(patient_worker):
    """max_wait is an hour here: a full batch comes back all the same, and a lone frame waits
    for a second one to fill its batch."""
    worker = patient_worker
    child = worker.child("worker")
    with FrameRing("a", slots=2) as ring_a, FrameRing("b", slots=2) as ring_b:
        ref_a = ring_a.write(_frame(320, 240, 1), 10.0)
        ref_b = ring_b.write(_frame(160, 120, 2), 10.05)
        worker.send(child, Frames((ref_a, ref_b)))
        results, stats = _next_results(worker, 60)  # a hang guard only
        assert stats.refs == 2 and stats.batch == 2  # one batch, both cameras
        assert [(r.camera_id, r.width, r.height) for r in results] == [("a", 320, 240), ("b", 160, 120)]
        assert all(r.reads and r.reads[0].text == RIGGED_TEXT for r in results)

        ref_a2 = ring_a.write(_frame(320, 240, 3), 10.1)
        worker.send(child, Frames((ref_a2,)))
        ref_b2 = ring_b.write(_frame(160, 120, 4), 10.15)
        worker.send(child, Frames((ref_b2,)))
        results, stats = _next_results(worker, 60)
        assert stats.refs == 2 and stats.batch == 2, "a lone frame did not wait for max_wait"
        assert [(r.camera_id, r.seq) for r in results] == [("a", ref_a2.seq), ("b", ref_b2.seq)]


def test_worker_releases_a_lone_frame_after_max_wait(worker):
    """No second frame comes and nothing stops the worker: only max_wait (1 s) releases it."""
    child = worker.child("worker")
    with FrameRing("a", slots=2) as ring_a:
        ref = ring_a.write(_frame(320, 240, 5), 20.0)
        worker.send(child, Frames((ref,)))
        results, stats = _next_results(worker, 60)  # a hang guard only
        assert stats.refs == 1 and stats.batch == 1 and [r.seq for r in results] == [ref.seq]


def test_worker_skips_and_counts_frames_overwritten_in_their_ring(worker):
    child = worker.child("worker")
    # A camera id of its own: ring names are <camera>_<pid>_<generation>, and the worker keeps
    # the segments it attached to mapped by name.
    with FrameRing("c", slots=2) as ring:
        old = ring.write(_frame(320, 240, 1), 1.0)
        ring.write(_frame(320, 240, 2), 1.1)
        fresh = ring.write(_frame(320, 240, 3), 1.2)  # reuses old's slot
        worker.send(child, Frames((old, fresh)))
        results, stats = _next_results(worker, 20)
        assert stats.refs == 2 and stats.stale == 1
        assert [r.seq for r in results] == [fresh.seq]


def test_the_worker_refuses_a_message_it_has_no_handler_for():
    import threading

    from alprd.infer.worker import _WorkerLoop
    from alprd.messages import UnknownMessage

    class _Inbox:
        parent_gone = threading.Event()

        def get(self, timeout):
            return ("frames", [])  # the old tuple protocol

    loop = _WorkerLoop(_Inbox(), InferenceEngine(None), Batcher(2, 1.0))
    with pytest.raises(UnknownMessage, match="the inference worker"):
        loop.run()


def test_with_two_lanes_each_cameras_frames_come_back_as_soon_as_its_lane_read_them(two_lanes):
    """a and b are in different lanes: each lone frame is read at once (no wait for a full batch,
    max_wait being an hour), each answered for in a Results of its own; a camera's frames keep
    their order; stale refs are accounted for too."""
    child = two_lanes.child("worker")
    with FrameRing("a", slots=4) as ring_a, FrameRing("b", slots=4) as ring_b:
        refs = [ring_a.write(_frame(320, 240, 1), 10.0), ring_b.write(_frame(160, 120, 2), 10.05)]
        two_lanes.send(child, Frames(tuple(refs)))
        got = [_next_results(two_lanes, 60) for _ in range(2)]      # a hang guard only
        assert sorted(s.refs_by_camera.popitem()[0] for _, s in got) == ["a", "b"]
        assert all(s.batch == 1 and len(r) == 1 and r[0].reads[0].text == RIGGED_TEXT for r, s in got)
        more = [ring_a.write(_frame(320, 240, k), 11.0 + k) for k in range(3)]
        two_lanes.send(child, Frames(tuple(more)))
        seqs = []
        while len(seqs) < 3:
            results, stats = _next_results(two_lanes, 60)
            seqs += [r.seq for r in results]
            assert set(stats.refs_by_camera) == {"a"}
        assert seqs == [r.seq for r in more]
        old = ring_b.write(_frame(160, 120, 3), 12.0)
        for k in range(4):                                          # old's slot is reused
            ring_b.write(_frame(160, 120, 4 + k), 12.1 + k)
        two_lanes.send(child, Frames((old,)))
        results, stats = _next_results(two_lanes, 60)
        assert results == () and stats.stale == 1 and stats.refs_by_camera == {"b": 1}
