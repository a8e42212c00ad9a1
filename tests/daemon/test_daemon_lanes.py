"""Lanes (alprd.infer.lanes): several Recognizers side by side in the worker, each reading its own
cameras; a batch split by lane comes back whole and in order."""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from alprd.cascade import Recognizer
from alprd.cli.recognize import sample_image
from alprd.config import InferenceConfig
from alprd.infer.lanes import Lanes, auto_lanes
from alprd.infer.worker import build_lanes


class Recording:
    """A recognizer that reads every frame as its own mean value, and records which streams and
    threads it saw."""

    def __init__(self, name):
        self.name = name
        self.trained = True
        self.streams: list = []
        self.threads: set = set()
        self.started = threading.Event()

    def recognize(self, frames, streams=None):
        self.streams += list(streams) if streams is not None else [None] * len(frames)
        self.threads.add(threading.get_ident())
        return [(self.name, float(f.mean())) for f in frames]


def _frames(n):
    return [np.full((4, 4, 3), k, np.uint8) for k in range(n)]


def test_a_batch_comes_back_in_order_and_each_camera_stays_in_one_lane():
    a, b = Recording("a"), Recording("b")
    lanes = Lanes([a, b])
    try:
        cams = ["c1", "c2", "c3", "c1", "c4", "c2"]
        out = lanes.recognize(_frames(6), cams)
        assert [v for _, v in out] == [0, 1, 2, 3, 4, 5]                 # every frame, in order
        lane = {cam: name for cam, (name, _) in zip(cams, out)}
        assert [name for name, _ in out] == [lane[c] for c in cams]      # a camera's frames in one lane
        assert sorted(lane.values()) == ["a", "a", "b", "b"]             # new cameras to the emptier lane
        again = lanes.recognize(_frames(3), ["c4", "c3", "c2"])
        assert [name for name, _ in again] == [lane["c4"], lane["c3"], lane["c2"]]
        assert len(a.threads | b.threads) == 2                           # the lanes ran on two threads
        assert lanes.trained is True                                     # the rest is the first lane's
        lanes.keep(["c1", "c2", "c3"])                                   # a reload removed c4
        lanes.recognize(_frames(1), ["c5"])
        assert lanes.lane_of("c5") == {"a": 0, "b": 1}[lane["c4"]]       # the lane c4 left has room
    finally:
        lanes.close()


def test_stills_are_shared_out_and_one_lane_is_the_recognizer_itself():
    a, b = Recording("a"), Recording("b")
    lanes = Lanes([a, b])
    try:
        out = lanes.recognize(_frames(4))
        assert [name for name, _ in out] == ["a", "b", "a", "b"] and [v for _, v in out] == [0, 1, 2, 3]
    finally:
        lanes.close()
    one = Recording("x")
    assert Lanes([one]).recognize(_frames(2), ["c1", "c2"]) == [("x", 0.0), ("x", 1.0)]


def test_an_error_in_any_lane_reaches_the_caller():
    class Broken(Recording):
        def recognize(self, frames, streams=None):
            raise RuntimeError("lane broke")

    for lanes in (Lanes([Recording("a"), Broken("b")]), Lanes([Broken("a"), Recording("b")])):
        try:
            with pytest.raises(RuntimeError, match="lane broke"):
                lanes.recognize(_frames(4), ["c1", "c2", "c1", "c2"])
        finally:
            lanes.close()


def test_auto_is_one_lane_per_core_at_most_one_per_camera_and_an_explicit_count_wins(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert auto_lanes("cpu", 1) == 1 and auto_lanes("cpu", 4) == 2
    rec = build_lanes(InferenceConfig(device="cpu", lanes=1), crops=False, cameras=4)
    assert isinstance(rec, Recognizer)


def test_two_real_lanes_read_what_one_recognizer_reads():
    """The bundled sample and an empty grey frame on three cameras, through two lanes of
    one ONNX thread each and through one Recognizer: the same reads per frame."""
    img = cv2.imread(str(sample_image()))
    frames = [img, np.full_like(img, 120), img]
    cams = ["c1", "c2", "c3"]
    lanes = build_lanes(InferenceConfig(device="cpu", lanes=2), crops=False, cameras=3)
    try:
        assert isinstance(lanes, Lanes) and len(lanes.lanes) == 2
        got = lanes.recognize(frames, cams)
    finally:
        lanes.close()
    want = Recognizer(device="cpu", threads=1).recognize(frames, cams)
    assert [[r.text for r in f] for f in got] == [[r.text for r in f] for f in want]
    assert [r.text for r in got[0]] == ["粤LQ092V"] and got[1] == []
