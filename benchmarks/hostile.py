"""Hostile neighbours for the soak (issue 18): a local client flooding the bus with distinct
subscriptions, and a camera that serves frames far above max_frame_pixels, forever.

Both run beside the daemon, on loopback, in their own process or thread, so what the soak
measures is what they cost the daemon, not what they cost themselves."""
from __future__ import annotations

import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_FLOODER = r"""
import os, signal, sys, time, zmq
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
endpoint, connections, hwm, recycle = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ctx = zmq.Context()

def fresh():
    s = ctx.socket(zmq.XSUB)
    s.setsockopt(zmq.SNDHWM, hwm)
    s.setsockopt(zmq.LINGER, 0)
    s.connect(endpoint)
    return s

# An XSUB remembers every subscription it sent (to send them all again after a reconnect): a
# socket kept for hours holds millions (5 GB in an hour's soak). A fresh connection every
# `recycle` subscriptions keeps the flooder's own memory bounded; the bus cuts each one long before.
socks = [[fresh(), 0] for _ in range(connections)]
n = 0
try:
    while True:
        for pair in socks:
            for _ in range(200):
                try:
                    pair[0].send(b"\x01plate.final.%d-%s" % (n, os.urandom(6).hex().encode()), zmq.NOBLOCK)
                    n += 1
                    pair[1] += 1
                except zmq.Again:
                    time.sleep(0.001)
            if pair[1] >= recycle:
                pair[0].close(0)
                pair[:] = [fresh(), 0]
finally:
    print(n, flush=True)
"""


class SubscriptionFlooder:
    """A process sending distinct subscriptions to `endpoint` as fast as it can, over `connections`
    connections (its own send buffers bounded, so it does not eat the host instead)."""

    def __init__(self, endpoint: str, connections: int = 4, sndhwm: int = 100000, recycle: int = 50000) -> None:
        # sndhwm 0: its queues unbounded, every subscription it makes is offered (the chaos test's
        # worst case); the soak's default keeps the flooder itself from eating the host
        self.proc = subprocess.Popen([sys.executable, "-c", _FLOODER, endpoint, str(connections), str(sndhwm),
                                      str(recycle)],
                                     stdout=subprocess.PIPE, text=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> int:
        """Stop it; returns how many subscriptions it handed to its sockets."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, _ = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        return int((out or "").strip() or 0)


def oversized_mjpeg(path: Path, size: int = 5000, frames: int = 3, rate: int = 5) -> Path:
    """An MJPEG AVI of `size`×`size` grey frames (a shade apart each): far above max_frame_pixels."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="avi") as out:
        s = out.add_stream("mjpeg", rate=rate)
        s.width = s.height = size
        s.pix_fmt = "yuvj420p"
        for i in range(frames):
            img = np.full((size, size, 3), 60 + 20 * i, np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


class OversizedCamera:
    """An HTTP camera whose stream (no length: live) holds frames above max_frame_pixels: every
    connection is refused by the decoder and retried with back-off, for as long as it runs."""

    def __init__(self, video: Path) -> None:
        data = video.read_bytes()
        cam = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                cam.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "video/x-msvideo")
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/live.avi"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
