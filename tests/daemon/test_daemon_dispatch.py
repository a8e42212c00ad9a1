"""The main process's dispatch policy: at most one batch in flight, too-old frames skipped.

Plain inputs: a Daemon that is built but not run, FrameRefs pushed in as the decoders' messages
would be, and a stand-in supervisor that records what would go to the worker (no processes).
"""
from __future__ import annotations

from alprd.config import parse_config
from alprd.service.daemon import WORKER, Daemon
from alprd.stream.ring import FrameRef


class _Child:
    name = WORKER


class _Sup:
    """What the dispatch needs of the supervisor: child() and send()."""

    def __init__(self) -> None:
        self.sent: list[list[FrameRef]] = []

    def child(self, name):
        return _Child()

    def send(self, child, kind, refs) -> bool:
        self.sent.append(list(refs))
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


def _frame(d: Daemon, cam: str, seq: int, ts: float) -> FrameRef:
    ref = FrameRef(cam, seq, ts, seq % 8, (4, 4, 3), f"alprd_test_{cam}")
    d._on_message(_Decoder(), ("frame", ref))
    return ref


def _accounted(d: Daemon) -> bool:
    c = d.counters
    waiting = sum(len(q) for q in d._pending.values())
    return c.frames_in == c.frames_dropped + waiting + d._inflight


def test_frames_waiting_longer_than_max_queue_ms_are_skipped_oldest_first_and_counted():
    d = _daemon(max_queue_ms=100, max_batch=4)
    old = [_frame(d, "a", i, 10.0 + i) for i in range(3)]
    arrived = d._pending["a"][-1][1]
    # the old frames have waited 0.3 s when the next two arrive
    d._pending["a"] = type(d._pending["a"])((ref, arrived - 0.3) for ref, _ in d._pending["a"])
    new = [_frame(d, "a", 3 + i, 13.0 + i) for i in range(2)]
    d._skip_late(arrived + 0.01)
    assert [r for r, _ in d._pending["a"]] == new
    assert d.counters.frames_dropped == len(old)
    assert d.counters.camera("a").dropped == len(old)
    assert _accounted(d)


def test_max_queue_ms_zero_never_skips_and_an_orderly_stop_processes_what_waits():
    d = _daemon(max_queue_ms=0)
    _frame(d, "a", 0, 1.0)
    d._skip_late(d._pending["a"][0][1] + 3600)
    assert len(d._pending["a"]) == 1 and d.counters.frames_dropped == 0

    d = _daemon(max_queue_ms=50)
    _frame(d, "a", 0, 1.0)
    d._stop_reason = "SIGTERM received"
    d._skip_late(d._pending["a"][0][1] + 3600)
    assert len(d._pending["a"]) == 1 and d.counters.frames_dropped == 0


def test_at_most_one_batch_is_in_flight_and_the_worker_sets_its_size():
    d = _daemon(max_queue_ms=0)  # max_batch unset: the worker says which
    assert d._credit == 4  # the CPU default until the worker reports
    d._on_message(_Child(), ("ready", {"device": "onnxruntime on cpu", "trained": True, "max_batch": 3}))
    for i in range(5):
        _frame(d, "a", i, 100.0 + 2 * i)
        _frame(d, "b", i, 101.0 + 2 * i)
    d._dispatch()
    [batch] = d.sup.sent
    # oldest first across cameras, no more than the batch size
    assert [(r.camera_id, r.seq) for r in batch] == [("a", 0), ("b", 0), ("a", 1)]
    d._dispatch()
    assert len(d.sup.sent) == 1, "nothing more goes out before results come back"
    d._on_message(_Child(), ("results", [], 3, {"refs_by_camera": {"a": 2, "b": 1}}))
    d._dispatch()
    assert [(r.camera_id, r.seq) for r in d.sup.sent[-1]] == [("b", 1), ("a", 2), ("b", 2)]
