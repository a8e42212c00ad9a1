"""FrameSource on files and on URLs that never work (RTSP proper is in test_rtsp.py)."""
import logging
import random
import selectors
import socket
import threading
import time

import numpy as np
import pytest

from alprd.config import CameraConfig, CameraDefaults
from alprd.stream.source import FrameSource, backoff_delay, is_live, mask_text, mask_url
from videos import frame_index, make_video
from waiting import wait_until
from benchmarks.ports import free_port

LOGGER = "alprd.stream.source"


def collect(source, limit=10_000):
    out = []
    for item in source:
        out.append(item)
        if len(out) >= limit:
            break
    return out


def run_in_thread(source):
    """Iterate `source` in a thread; returns (thread, list of items)."""
    items = []
    thread = threading.Thread(target=lambda: items.extend(source), daemon=True)
    thread.start()
    return thread, items


# -- files ---------------------------------------------------------------------------------------

def test_file_decodes_every_frame_in_order_as_bgr(video_file):
    items = collect(FrameSource(str(video_file)))
    assert [frame_index(f) for _, _, f in items] == list(range(50))
    assert [s for s, _, _ in items] == list(range(50))
    assert all(f.shape == (120, 160, 3) and f.dtype == np.uint8 for _, _, f in items)
    # BGR: the default frame's moving square is pure red
    _, _, f = items[0]
    assert tuple(int(v) for v in f[70, 10]) == pytest.approx((0, 0, 255), abs=40)


def test_samples_to_target_fps_on_the_stream_clock(video_file):
    t0 = time.time()
    src = FrameSource(str(video_file), fps=10)
    items = collect(src)
    # 2 s of 25 fps video at 10 fps: frames 0, 2.5, 5, ... -> 20 frames, evenly spread
    assert len(items) == 20
    assert [frame_index(f) for _, _, f in items] == [int(i * 2.5 + 0.5) for i in range(20)]
    ts = [t for _, t, _ in items]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert np.diff(ts) == pytest.approx([0.1] * 19, abs=0.021)
    assert t0 <= ts[0] <= time.time()
    assert src.counters.decoded == 50 and src.counters.sampled == 20 and src.counters.errors == 0
    assert not src.connected


def test_loop_keeps_going_and_timestamps_keep_increasing(video_file):
    items = collect(FrameSource(str(video_file), fps=5, loop=True), limit=25)
    idx = [frame_index(f) for _, _, f in items]
    assert idx[:10] == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45]
    assert idx[10:20] == idx[:10]  # second pass
    ts = [t for _, t, _ in items]
    assert all(b > a for a, b in zip(ts, ts[1:]))
    assert np.diff(ts) == pytest.approx([0.2] * 24, abs=0.03)  # no gap or overlap at the seam
    assert [s for s, _, _ in items] == list(range(25))


def test_realtime_paces_a_file_like_a_camera(video_file):
    """Each frame is handed over no earlier than its timestamp, as a camera would: decoding flat
    out would hand the later frames over long before they are due. Timestamps start at the
    wall clock of the first frame."""
    start = time.time()
    items, handed_at = [], []
    for item in FrameSource(str(video_file), fps=10, realtime=True):
        handed_at.append(time.time())
        items.append(item)
        if len(items) >= 6:
            break
    ts = [t for _, t, _ in items]
    assert start <= ts[0] <= handed_at[0]
    assert np.diff(ts) == pytest.approx([0.1] * 5, abs=0.021)  # 6 frames span 0.5 s of video
    # paced: never ahead of its own clock (1 ms for float rounding between the two clocks)
    assert all(at >= t - 0.001 for at, t in zip(handed_at, ts)), [round(at - t, 3) for at, t in zip(handed_at, ts)]


def test_stop_from_another_thread_ends_a_looping_file(slow_video):
    """The stop cuts the wait for the next frame short: paced in realtime, this file's second
    frame is due 1000 s after its first, so a stop that waited for it would never end here."""
    src = FrameSource(str(slow_video), fps=10, loop=True, realtime=True)
    thread, items = run_in_thread(src)
    assert wait_until(lambda: len(items) >= 1, timeout=60)
    src.stop()
    thread.join(60)  # a hang guard only
    assert not thread.is_alive() and len(items) == 1


def test_truncated_file_without_index_ends_cleanly_with_one_error_line(video_file, tmp_path, caplog):
    data = video_file.read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) * 6 // 10])  # the index (moov) is at the end: gone
    caplog.set_level(logging.INFO, logger=LOGGER)
    src = FrameSource(str(bad), fps=10, loop=True)
    assert collect(src) == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cut.mp4" in errors[0].getMessage()
    assert src.counters.errors == 1 and src.counters.reconnects == 0


def test_truncated_file_with_index_yields_what_is_there_and_says_so(tmp_path, caplog):
    data = make_video(tmp_path / "fs.mp4", frames=50, faststart=True).read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) * 6 // 10])
    caplog.set_level(logging.INFO, logger=LOGGER)
    items = collect(FrameSource(str(bad)))
    assert 5 < len(items) < 50
    assert [frame_index(f) for _, _, f in items] == list(range(len(items)))
    assert any("truncated" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_corrupt_packets_are_skipped_not_fatal(tmp_path, caplog):
    data = bytearray(make_video(tmp_path / "ok.mp4", frames=50, faststart=True).read_bytes())
    rng = np.random.default_rng(0)
    for k in range(20):
        at = len(data) // 4 + k * len(data) // 50
        data[at:at + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data))
    caplog.set_level(logging.INFO, logger=LOGGER)
    src = FrameSource(str(bad))
    items = collect(src)
    assert items and src.counters.errors > 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "undecodable" in warnings[0]


@pytest.mark.parametrize("content", [None, b"not a video at all"])
def test_missing_or_non_video_file_ends(tmp_path, content, caplog):
    path = tmp_path / "x.mp4"
    if content is not None:
        path.write_bytes(content)
    caplog.set_level(logging.INFO, logger=LOGGER)
    src = FrameSource(str(path), loop=True)
    assert collect(src) == [] and not src.connected
    assert sum(r.levelno == logging.ERROR for r in caplog.records) == 1


def test_from_config_takes_camera_and_defaults(video_file):
    cam = CameraConfig(id="gate", url=str(video_file), loop=True)
    defaults = CameraDefaults(open_timeout_s=3, read_timeout_s=4, reconnect_min_s=0.2, reconnect_max_s=9)
    src = FrameSource.from_config(cam, defaults, 5.0)
    assert (src.name, src.fps, src.loop, src.timeout) == ("gate", 5.0, True, (3, 4))
    assert (src.reconnect_min_s, src.reconnect_max_s, src.live) == (0.2, 9, False)


# -- URLs, masking, backoff ----------------------------------------------------------------------

def test_mask_url_hides_passwords_everywhere():
    assert mask_url("rtsp://admin:s3cret@10.0.0.5:554/live") == "rtsp://admin:***@10.0.0.5:554/live"
    assert mask_url("rtsp://10.0.0.5/live") == "rtsp://10.0.0.5/live"
    assert mask_url("/var/video/a.mp4") == "/var/video/a.mp4"
    assert mask_url("rtsp://u:p@ss@h/x") == "rtsp://u:***@h/x"
    masked = mask_url("http://cam/api/stream.m3u8?user=bob&password=hunter2&ch=1")
    assert "hunter2" not in masked and "user=bob" in masked and "ch=1" in masked
    assert mask_text("error opening 'rtsp://a:b@h:1/x' and rtsp://c:d@e") == \
        "error opening 'rtsp://a:***@h:1/x' and rtsp://c:***@e"


def test_live_is_decided_by_scheme():
    assert is_live("rtsp://h/x") and is_live("https://h/x.m3u8") and is_live("RTSP://h/x")
    assert not is_live("/tmp/a.mp4") and not is_live("file:///tmp/a.mp4") and not is_live("a.mp4")


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    rng = random.Random(3)
    for n, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 30.0), (60, 30.0)]:
        d = backoff_delay(n, 0.5, 30.0, rng)
        assert base * 0.5 <= d <= base
    delays = {backoff_delay(3, 0.5, 30.0, rng) for _ in range(20)}
    assert len(delays) > 10  # jittered


def test_refused_url_retries_with_backoff_logs_once_and_masks(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    url = f"rtsp://admin:topsecret@127.0.0.1:{free_port()}/cam"
    src = FrameSource(url, fps=10, open_timeout_s=1, read_timeout_s=1,
                      reconnect_min_s=0.02, reconnect_max_s=0.1)
    thread, items = run_in_thread(src)
    assert wait_until(lambda: src.counters.reconnects >= 5, timeout=60)
    src.stop()
    thread.join(60)  # a hang guard only
    assert not thread.is_alive() and items == [] and not src.connected
    assert src.counters.errors >= 5
    above_debug = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert len(above_debug) == 1, [r.getMessage() for r in above_debug]  # once, not once per retry
    assert "retrying" in above_debug[0].getMessage()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "topsecret" not in text and "admin:***@" in text


class SilentServer:
    """A TCP listener that accepts connections and reads them but never answers. Per
    connection it keeps what the client sent and whether the client hung up."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.url = f"rtsp://127.0.0.1:{self.listener.getsockname()[1]}/cam"
        self.connections = []  # {"request": bytes, "hung_up": bool}, in accept order
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ, None)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(0.05):
                    if key.data is None:
                        conn, _ = self.listener.accept()
                        record = {"request": b"", "hung_up": False}
                        sel.register(conn, selectors.EVENT_READ, record)
                        self.connections.append(record)
                        continue
                    try:
                        data = key.fileobj.recv(4096)
                    except OSError:
                        data = b""
                    if data:
                        key.data["request"] += data
                    else:
                        key.data["hung_up"] = True
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()
            sel.close()

    def hung_up(self):
        return [c for c in list(self.connections) if c["hung_up"]]

    def close(self):
        self._stop.set()
        self._thread.join(60)


def test_server_that_never_answers_times_out_retries_and_stops_promptly():
    """A listening socket that never speaks RTSP: each open asks, waits for an answer that never
    comes and gives up after open_timeout (the client hangs up: nobody else closes these
    connections); the source retries. A stop lets at most the open in flight finish: no new
    attempt is made after it."""
    server = SilentServer()
    try:
        src = FrameSource(server.url, open_timeout_s=0.3, read_timeout_s=0.3,
                          reconnect_min_s=0.05, reconnect_max_s=0.1)
        thread, items = run_in_thread(src)
        try:
            assert wait_until(lambda: src.counters.reconnects >= 2 and len(server.hung_up()) >= 2, timeout=60)
            assert all(b"RTSP/1.0" in c["request"] for c in server.hung_up())  # it asked, then gave up
            # stop while an open is (most likely) waiting on the server, not during a backoff
            wait_until(lambda: len(server.connections) > src.counters.reconnects, timeout=60)
        finally:
            src.stop()
        attempts = src.counters.reconnects  # counted after the stop; one more may be in flight
        thread.join(60)  # a hang guard only
        assert not thread.is_alive() and items == []
        assert src.counters.reconnects <= attempts + 1, "a new attempt was started after the stop"
        # every attempt was one connection, and the client ended each of them itself
        assert wait_until(lambda: len(server.hung_up()) == len(server.connections) == src.counters.reconnects,
                        timeout=60), (len(server.hung_up()), len(server.connections), src.counters)
    finally:
        server.close()


def test_http_video_file_ends_like_a_file(video_file):
    """An HTTP URL is live until it declares a duration: a video file over HTTP then ends like a
    file (issue 18 item 15: it used to be re-read flat out in a reconnect loop), or loops with
    `loop`, without a reconnect."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(video_file.parent))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/{video_file.name}"
            once = FrameSource(url, open_timeout_s=2, read_timeout_s=2, reconnect_min_s=0.02,
                               reconnect_max_s=0.05)
            items_once = collect(once, limit=200)
            looped = FrameSource(url, loop=True, open_timeout_s=2, read_timeout_s=2,
                                 reconnect_min_s=0.02, reconnect_max_s=0.05)
            items = collect(looped, limit=60)
        finally:
            httpd.shutdown()
    assert once.live and once.finite and once.counters.reconnects == 0 and not once.connected
    assert [frame_index(f) for _, _, f in items_once] == list(range(50))
    assert looped.counters.reconnects == 0
    assert [frame_index(f) for _, _, f in items] == list(range(50)) + list(range(10))
    ts = [t for _, t, _ in items]
    assert all(b > a for a, b in zip(ts, ts[1:]))


def test_a_finished_hls_playlist_over_http_ends_like_a_file(tmp_path):
    """HLS with #EXT-X-ENDLIST declares its duration: read once (issue 18 item 15), where a live
    playlist would be reconnected."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    import av

    src_video = make_video(tmp_path / "src.mp4", frames=30)
    hls = tmp_path / "hls"
    hls.mkdir()
    with av.open(str(src_video)) as inp, av.open(str(hls / "index.m3u8"), "w", format="hls",
                                                  options={"hls_time": "1", "hls_playlist_type": "vod"}) as out:
        ins = inp.streams.video[0]
        outs = out.add_stream_from_template(ins)
        for packet in inp.demux(ins):
            if packet.dts is None:
                continue
            packet.stream = outs
            out.mux(packet)
    assert "#EXT-X-ENDLIST" in (hls / "index.m3u8").read_text()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(hls))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            src = FrameSource(f"http://127.0.0.1:{httpd.server_address[1]}/index.m3u8", open_timeout_s=5,
                              read_timeout_s=5, reconnect_min_s=0.02, reconnect_max_s=0.05)
            items = collect(src, limit=200)
        finally:
            httpd.shutdown()
    assert src.live and src.finite and src.counters.reconnects == 0
    assert [frame_index(f) for _, _, f in items] == list(range(30))
