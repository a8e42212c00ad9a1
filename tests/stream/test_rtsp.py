"""FrameSource against a real RTSP server (GStreamer) on loopback: read, server death, hang."""
import logging
import threading
import time

import pytest

from alprd.stream.source import FrameSource
from videos import frame_index

LOGGER = "alprd.stream.source"


class Consumer:
    """Iterates a source in a thread, keeping frames and their arrival times."""

    def __init__(self, source):
        self.source = source
        self.items = []
        self.arrivals = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for item in self.source:
            self.items.append(item)
            self.arrivals.append(time.monotonic())

    def wait(self, cond, timeout=120):
        deadline = time.monotonic() + timeout
        while not cond():
            assert self.thread.is_alive(), "source ended"
            assert time.monotonic() < deadline, f"timed out; counters {self.source.counters}"
            time.sleep(0.02)

    def stop(self):
        self.source.stop()
        self.thread.join(60)  # a hang guard only
        assert not self.thread.is_alive()


def source(url, **kw):
    kw = {"open_timeout_s": 3, "read_timeout_s": 1.0, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3,
          **kw}
    return FrameSource(url, **kw)


def test_reads_rtsp_at_the_sampled_rate(rtsp_server):
    c = Consumer(source(rtsp_server.url, fps=10))
    try:
        c.wait(lambda: len(c.items) >= 12)
    finally:
        c.stop()
    assert c.source.live and c.source.counters.reconnects == 0
    seqs = [s for s, _, _ in c.items]
    assert seqs == list(range(len(seqs)))
    ts = [t for _, t, _ in c.items]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert ts[-1] == pytest.approx(time.time(), abs=2.0)
    idx = [frame_index(f) for _, _, f in c.items]
    assert idx == sorted(idx) and idx[0] <= 5
    # 10 of the stream's 25 fps: consecutive indices 2 or 3 apart
    assert set(b - a for a, b in zip(idx, idx[1:])) <= {2, 3}
    assert c.items[0][2].shape == (120, 160, 3)


def test_reconnects_after_the_server_restarts(rtsp_server, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    c = Consumer(source(rtsp_server.url, fps=10))
    try:
        c.wait(lambda: len(c.items) >= 3)
        rtsp_server.stop()  # PyAV just stops yielding: end of stream on a live source
        c.wait(lambda: not c.source.connected)
        c.wait(lambda: c.source.counters.reconnects >= 3)  # refused while it is down
        before = len(c.items)
        rtsp_server.start()
        c.wait(lambda: len(c.items) >= before + 3)
    finally:
        c.stop()
    assert c.source.counters.reconnects >= 3
    seqs = [s for s, _, _ in c.items]
    assert seqs == list(range(len(seqs)))
    ts = [t for _, t, _ in c.items]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    # the restarted server starts its file again: the stream restarts near frame 0
    assert frame_index(c.items[before][2]) <= 5
    msgs = [r.getMessage() for r in caplog.records]
    assert sum("disconnected" in m for m in msgs) == 1
    assert sum("connected to" in m for m in msgs) == 2
    assert sum("retrying" in m for m in msgs) <= 1


def test_a_hung_server_hits_the_read_timeout_and_recovers(rtsp_server):
    c = Consumer(source(rtsp_server.url, fps=10, read_timeout_s=0.8, open_timeout_s=0.8))
    try:
        c.wait(lambda: len(c.items) >= 3)
        rtsp_server.pause()
        # the server stays frozen until resume(): only the read timeout can end this read
        c.wait(lambda: not c.source.connected, timeout=60)
        assert c.source.counters.errors >= 1
        before = len(c.items)
        rtsp_server.resume()
        c.wait(lambda: len(c.items) >= before + 3)
    finally:
        rtsp_server.resume()
        c.stop()
