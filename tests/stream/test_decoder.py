"""run_decoder in a real spawned process, a real multiprocessing queue, a real shared-memory ring."""
import multiprocessing as mp
from multiprocessing.reduction import ForkingPickler
import queue

import pytest

from alprd.config import CameraConfig, CameraDefaults
from alprd.stream.decoder import DecoderStats, put_dropping_oldest, run_decoder
from alprd.stream.ring import FrameRef, RingReader
from rtsp_server import RtspServer, require_gst_rtsp
from stream.conftest import segments_of
from videos import frame_index
from waiting import wait_until

CTX = mp.get_context("spawn")
DEFAULTS = CameraDefaults(ring_slots=8, open_timeout_s=2, read_timeout_s=1,
                          reconnect_min_s=0.05, reconnect_max_s=0.3)


def start(camera, q, fps=10.0, **kw):
    stop, stats = CTX.Event(), DecoderStats(CTX)
    proc = CTX.Process(target=run_decoder, args=(camera, DEFAULTS, fps, q, stop, stats), kwargs=kw,
                       name=f"decoder-{camera.id}", daemon=True)
    proc.start()
    return proc, stop, stats


def finish(proc, timeout=60.0):
    proc.join(timeout)  # a hang guard only
    if proc.is_alive():
        proc.kill()
        proc.join()
        pytest.fail("decoder did not exit")
    assert proc.exitcode == 0
    assert not segments_of(proc.pid), "decoder left its ring in /dev/shm"


class PipeQueue:
    """An out_queue that sends each descriptor at once, as the daemon's channel does. A
    multiprocessing.Queue hands its items to a feeder thread, and run_decoder cancels that thread's
    join at exit (a consumer may be gone): the last descriptors were lost when the machine was slow."""

    def __init__(self) -> None:
        self.r, self.w = CTX.Pipe(duplex=False)

    def put_nowait(self, item) -> None:
        self.w.send(item)

    def get(self, timeout: float):
        if not self.r.poll(timeout):
            raise queue.Empty
        return self.r.recv()


def test_file_frames_flow_through_ring_and_queue(video_file):
    q = PipeQueue()
    proc, _, stats = start(CameraConfig(id="gate", url=str(video_file)), q)
    got = []
    with RingReader() as reader:
        while len(got) < 20:
            ref = q.get(timeout=120)
            assert isinstance(ref, FrameRef) and ref.camera_id == "gate"
            img = reader.read(ref)
            assert img is not None, "paced at 10 fps, a prompt reader loses nothing"
            got.append((ref, frame_index(img)))
    finish(proc)
    assert [i for _, i in got] == [int(k * 2.5 + 0.5) for k in range(20)]
    assert [r.seq for r, _ in got] == list(range(20))
    ts = [r.timestamp for r, _ in got]
    assert all(b > a for a, b in zip(ts, ts[1:])) and ts[-1] - ts[0] == pytest.approx(1.9, abs=0.05)
    snap = stats.snapshot()
    assert snap["decoded"] == 50 and snap["sampled"] == 20
    assert snap["dropped"] == 0 and snap["queue_dropped"] == 0
    assert snap["running"] == 0 and snap["connected"] == 0
    assert (snap["width"], snap["height"]) == (160, 120) and snap["last_frame_ts"] == ts[-1]


def test_decoder_never_blocks_on_a_full_queue(video_file):
    q = CTX.Queue(maxsize=2)  # and nobody reads it
    proc, _, stats = start(CameraConfig(id="slow", url=str(video_file)), q, realtime=False)
    finish(proc, timeout=120)  # exits even though the queue still holds descriptors
    snap = stats.snapshot()
    assert snap["sampled"] == 20
    assert snap["queue_dropped"] == 18  # 20 descriptors, room for 2
    assert snap["dropped"] == 12  # 20 frames through 8 slots, none read


def test_stop_event_ends_a_looping_decoder_promptly(slow_video):
    """Paced in realtime, the second frame of this file is due 1000 s after the first: the stop
    event must cut that wait short (finish() fails if the process is still waiting)."""
    q = CTX.Queue(maxsize=4)
    proc, stop, stats = start(CameraConfig(id="loop", url=str(slow_video), loop=True), q)
    assert wait_until(lambda: stats.sampled >= 1 and stats.running == 1)
    stop.set()
    finish(proc)
    assert stats.running == 0 and stats.sampled == 1  # it did not wait for the second frame


def test_live_decoder_reports_connection_state(rtsp_video):
    require_gst_rtsp()
    q = CTX.Queue(maxsize=4)
    with RtspServer(rtsp_video) as server:
        proc, stop, stats = start(CameraConfig(id="rtsp", url=server.url), q)
        try:
            assert wait_until(lambda: stats.connected == 1 and stats.sampled >= 3)
            server.stop()
            assert wait_until(lambda: stats.connected == 0 and stats.reconnects >= 1)
            server.start()
            assert wait_until(lambda: stats.connected == 1)
        finally:
            stop.set()
            finish(proc)
    assert stats.errors >= 1 and stats.running == 0


def test_put_dropping_oldest_keeps_the_newest():
    q = queue.Queue(maxsize=2)
    assert [put_dropping_oldest(q, i) for i in range(5)] == [0, 0, 1, 1, 1]
    assert [q.get_nowait(), q.get_nowait()] == [3, 4]


def test_stats_refuse_to_travel_outside_process_creation():
    stats = DecoderStats(CTX)
    stats.set(sampled=3)
    assert stats.sampled == 3 and stats.snapshot()["sampled"] == 3
    with pytest.raises(AttributeError):
        stats.nonsense
    with pytest.raises(RuntimeError):  # what a multiprocessing queue would do: inherited only
        ForkingPickler.dumps(stats)
