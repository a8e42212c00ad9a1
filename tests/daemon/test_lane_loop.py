"""The worker's lane loop alone, with plain inputs: engines that answer with what they were given
(one of them held until the test lets it go), a channel that records what is sent."""
import queue
import threading
from dataclasses import dataclass

import pytest

from alprd.infer.lane_loop import LaneLoop
from alprd.messages import Results, Stop


@dataclass(frozen=True)
class _Frames:
    frames: list
    stale: dict


class _Channel:
    def __init__(self):
        self.inbox: queue.Queue = queue.Queue()
        self.sent: queue.Queue = queue.Queue()
        self.parent_gone = threading.Event()

    def get(self, timeout=None):
        try:
            return self.inbox.get(timeout=timeout)
        except queue.Empty:
            return None

    post = put = lambda self, msg: self.inbox.put(msg)

    def send(self, msg):
        self.sent.put(msg)
        return True

    def results(self) -> Results:
        return self.sent.get(timeout=60)          # a hang guard only


class _Engine:
    """Answers each frame with its (camera, seq); `hold` keeps it from answering until set."""

    def __init__(self, hold: threading.Event | None = None, fail: bool = False):
        self.hold, self.fail, self.filtered, self.calls = hold, fail, 0, []

    def process(self, frames):
        self.calls.append([f[1] for f in frames])
        if self.hold is not None:
            self.hold.wait(60)
        if self.fail:
            raise RuntimeError("lane broke")
        return [(cam, seq) for cam, seq, *_ in frames]


def _loop(engines, max_batch=2):
    lanes = {"a": 0, "b": 1, "c": 1}
    ch = _Channel()
    loop = LaneLoop(ch, engines, lanes.__getitem__, max_batch, _Frames)
    box: dict = {}
    t = threading.Thread(target=lambda: box.update(rc=_run(loop, box)), daemon=True)
    t.start()
    return ch, t, box


def _run(loop, box):
    try:
        return loop.run()
    except BaseException as exc:  # noqa: BLE001
        box["error"] = exc


def _f(cam, seq):
    return (cam, seq, float(seq), None)


def test_a_lane_answers_for_its_cameras_while_the_other_is_still_busy_and_a_stop_drains_both():
    hold = threading.Event()
    fast, slow = _Engine(), _Engine(hold)
    ch, t, box = _loop([fast, slow])
    ch.put(_Frames([_f("a", 1), _f("b", 1), _f("c", 1)], {}))
    first = ch.results()
    assert first.results == (("a", 1),) and first.stats.refs_by_camera == {"a": 1}
    ch.put(_Frames([_f("a", 2), _f("a", 3), _f("a", 4), _f("b", 2)], {"c": 2}))
    second, third = ch.results(), ch.results()       # lane 0: a's frames, two at most at once
    assert [second.results, third.results] == [(("a", 2), ("a", 3)), (("a", 4),)]
    assert second.stats.stale == 2 and second.stats.refs_by_camera == {"a": 2, "c": 2}
    assert third.stats.stale == 0
    ch.put(Stop())
    assert ch.sent.empty() and t.is_alive()          # stopping, but lane 1 still reads
    hold.set()
    rest = [ch.results(), ch.results()]
    assert [r.results for r in rest] == [(("b", 1), ("c", 1)), (("b", 2),)]   # each camera in order
    t.join(60)
    assert not t.is_alive() and box == {"rc": 0}
    assert slow.calls == [[1, 1], [2]]


def test_an_error_in_a_lane_ends_the_loop_with_it():
    ch, t, box = _loop([_Engine(), _Engine(fail=True)])
    ch.put(_Frames([_f("b", 1)], {}))
    t.join(60)
    assert isinstance(box.get("error"), RuntimeError)


def test_stale_refs_alone_are_answered_at_once():
    ch, t, box = _loop([_Engine(), _Engine()])
    ch.put(_Frames([], {"a": 3}))
    r = ch.results()
    assert r.results == () and r.stats.stale == 3 and r.stats.refs_by_camera == {"a": 3}
    ch.put(Stop())
    t.join(60)
    assert box == {"rc": 0}


def test_max_batch_must_be_positive():
    with pytest.raises(ValueError):
        LaneLoop(_Channel(), [_Engine()], lambda c: 0, 0, _Frames)
