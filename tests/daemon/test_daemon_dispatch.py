"""The main process's dispatch policy: at most one batch in flight, too-old frames skipped.

Plain inputs: FrameDispatcher alone, then a Daemon that is built but not run, with FrameRefs
pushed in as the decoders' messages would be and a stand-in supervisor that records what would
go to the worker (no processes).
"""
from __future__ import annotations

import pytest

from alprd.config import parse_config
from alprd.messages import BatchStats, FrameReady, Frames, Results, UnknownMessage, WorkerReady
from alprd.service.daemon import Daemon
from alprd.service.dispatch import FrameDispatcher
from alprd.service.specs import WORKER
from alprd.stream.ring import FrameRef


class _Child:
    name = WORKER


class _Sup:
    """What the dispatch needs of the supervisor: child() and send()."""

    def __init__(self) -> None:
        self.sent: list[list[FrameRef]] = []

    def child(self, name):
        return _Child()

    def send(self, child, msg: Frames) -> bool:
        self.sent.append(list(msg.refs))
        return True


class _Decoder:
    name = "decoder:x"


def _daemon(**inference) -> Daemon:
    cfg = parse_config({
        "cameras": [{"id": "a", "url": "/nowhere/a.mp4"}, {"id": "b", "url": "/nowhere/b.mp4"}],
        "inference": {"device": "cpu", **inference},
        "sinks": {"stdout": {"enabled": False}, "jsonl": {"enabled": False},
                  "sql": {"enabled": False}, "bus": {"enabled": False}},
    })
    d = Daemon(cfg)
    d.sup = _Sup()
    return d


def _ref(cam: str, seq: int, ts: float) -> FrameRef:
    return FrameRef(cam, seq, ts, seq % 8, (4, 4, 3), f"alprd_test_{cam}")


def test_frames_waiting_longer_than_max_queue_s_are_skipped_oldest_first():
    f = FrameDispatcher(["a", "b"], slots=8, credit=4, max_queue_s=0.1)
    for i in range(3):
        assert f.received(_ref("a", i, 10.0 + i), now=100.0) == 0
    new = [_ref("a", 3, 13.0), _ref("a", 4, 14.0)]
    for r in new:
        f.received(r, now=100.3)
    f.received(_ref("b", 0, 13.5), now=100.25)
    assert f.skip_late(now=100.32) == {"a": 3}
    assert f.waiting_of("a") == 2 and f.waiting_of("b") == 1
    assert [r.seq for r in f.take()] == [3, 0, 4]  # oldest stream time first, across cameras


def test_no_skipping_when_max_queue_s_is_zero_and_ring_slots_bound_the_wait():
    f = FrameDispatcher(["a"], slots=3, credit=4, max_queue_s=0.0)
    dropped = [f.received(_ref("a", i, float(i)), now=0.0) for i in range(5)]
    assert dropped == [0, 0, 0, 1, 1]  # the oldest go: their ring slots are being reused
    assert f.skip_late(now=1e9) == {}
    assert [r.seq for r in f.take()] == [2, 3, 4]


def test_at_most_credit_frames_in_flight_until_the_worker_answers():
    f = FrameDispatcher(["a", "b"], slots=8, credit=3, max_queue_s=0.0)
    for i in range(3):
        f.received(_ref("a", i, 100.0 + 2 * i), now=0.0)
        f.received(_ref("b", i, 101.0 + 2 * i), now=0.0)
    batch = f.take()
    assert [(r.camera_id, r.seq) for r in batch] == [("a", 0), ("b", 0), ("a", 1)]
    f.sent(batch)
    assert f.take() == [] and f.in_flight == 3 and f.busy("a")
    f.done({"a": 2, "b": 1})
    batch = f.take()
    assert [(r.camera_id, r.seq) for r in batch] == [("b", 1), ("a", 2), ("b", 2)]
    f.put_back(batch, now=1.0)  # the send failed: first in line again
    assert [(r.camera_id, r.seq) for r in f.take()] == [("b", 1), ("a", 2), ("b", 2)]
    assert f.drained() and not f.busy("a")


def test_a_dead_worker_loses_what_was_in_flight_and_a_stop_clears_what_waits():
    f = FrameDispatcher(["a", "b"], slots=8, credit=2, max_queue_s=0.0)
    for i in range(3):
        f.received(_ref("a", i, float(i)), now=0.0)
    f.sent(f.take())
    assert f.lose_in_flight() == {"a": 2} and f.in_flight == 0
    assert f.clear_waiting() == {"a": 1} and f.drained()


def _frame(d: Daemon, cam: str, seq: int, ts: float) -> FrameRef:
    ref = _ref(cam, seq, ts)
    d.handlers.on_message(_Decoder(), FrameReady(ref))
    return ref


def test_the_daemon_skips_late_frames_counts_them_and_takes_its_batch_size_from_the_worker():
    d = _daemon(max_queue_ms=100)  # max_batch unset: the worker says which
    assert d.relay.frames.credit == 4  # the CPU default until the worker reports
    d.handlers.on_message(_Child(), WorkerReady("onnxruntime on cpu", True, 3))
    assert d.relay.frames.credit == 3
    for i in range(5):
        _frame(d, "a", i, 100.0 + 2 * i)
    d.relay.frames._waiting["a"][0] = (d.relay.frames._waiting["a"][0][0], -1e9)  # the first waited forever
    d.dispatch()
    assert [r.seq for r in d.sup.sent[-1]] == [1, 2, 3]
    assert d.counters.frames_dropped == 1 and d.counters.camera("a").dropped == 1
    d.stop_reason = "SIGTERM received"  # an orderly stop processes what waits, however old
    d.relay.frames._waiting["a"][0] = (d.relay.frames._waiting["a"][0][0], -1e9)
    d.handlers.on_message(_Child(), Results((), BatchStats(batch=0, stale=3, refs_by_camera={"a": 3})))
    d.dispatch()
    assert [r.seq for r in d.sup.sent[-1]] == [4] and d.counters.frames_dropped == 1


def test_a_message_of_an_unknown_kind_is_an_error_where_it_arrives():
    """The old tuple protocol, or a message meant for another process, is a bug of ours: it
    raises at the receiver instead of leaving frames "in flight" forever without a word."""
    d = _daemon()
    with pytest.raises(UnknownMessage, match="the main process"):
        d.handlers.on_message(_Child(), ("results", [], 3, {"refs_by_camera": {"a": 3}}))
    with pytest.raises(UnknownMessage):
        d.handlers.on_message(_Child(), Frames(()))  # worker-bound
    d.handlers.on_message(_Child(), Results((), BatchStats(batch=0, stale=0, refs_by_camera={})))


def test_cameras_with_fewer_frames_in_flight_go_first_each_in_its_own_order():
    """A worker lane that answered for its cameras gets their next frames, although another
    camera's waiting frames are older (that camera's lane is still busy with its frames)."""
    f = FrameDispatcher(["a", "b", "c"], slots=8, credit=4, max_queue_s=0.0)
    for i in range(4):
        f.received(_ref("a", i, 10.0 + 0.1 * i), now=0.0)
        f.received(_ref("b", i, 10.02 + 0.1 * i), now=0.0)
        f.received(_ref("c", i, 10.04 + 0.1 * i), now=0.0)
    batch = f.take()
    assert [(r.camera_id, r.seq) for r in batch] == [("a", 0), ("b", 0), ("c", 0), ("a", 1)]
    f.sent(batch)
    f.done({"b": 1, "c": 1})                     # one lane answered for b and c; a's is busy
    assert [(r.camera_id, r.seq) for r in f.take()] == [("b", 1), ("c", 1)]



def test_no_camera_runs_more_than_max_lead_ahead_of_another_but_its_own_backlog_goes_out():
    from alprd.service.dispatch import MAX_LEAD_S

    f = FrameDispatcher(["entry", "exit"], slots=8, credit=4, max_queue_s=0.0)
    f.received(_ref("entry", 0, 100.0), now=0.0)
    f.sent(f.take())                                          # entry's frame is being read
    for i in range(3):
        f.received(_ref("exit", i, 100.0 + MAX_LEAD_S * (0.5 + i)), now=0.0)
    assert [r.seq for r in f.take()] == [0]                   # only what is within the lead
    f.done({"entry": 1})                                      # entry is idle: no bound
    batch = f.take()
    assert [r.seq for r in batch] == [1, 2]                   # a camera's own backlog, at once


def test_a_frame_taken_in_the_same_batch_bounds_the_other_cameras_lead():
    from alprd.service.dispatch import MAX_LEAD_S

    f = FrameDispatcher(["entry", "exit"], slots=8, credit=4, max_queue_s=0.0)
    f.received(_ref("entry", 0, 100.0), now=0.0)
    for i in range(3):
        f.received(_ref("exit", i, 100.0 + MAX_LEAD_S * (0.5 + i)), now=0.0)
    assert [(r.camera_id, r.seq) for r in f.take()] == [("entry", 0), ("exit", 0)]
