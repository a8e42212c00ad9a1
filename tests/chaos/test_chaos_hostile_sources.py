"""Chaos on the camera side, issue 18: sources whose clock goes back, a finite HTTP source with
credentials in its URL, and frames far larger than any camera's — one daemon run, every sink on.

- `twice`: a file made of two recordings (MPEG-TS, pts restart at 0). Each recording holds one
  car; the first ends on a lone frame later than every frame of the second, so a source that
  clamps the clock instead of resynchronising skips the whole second car (item 2).
- `jump`: a live HTTP camera (MPEG-TS streamed in real time, no length) whose clock jumps back
  7.3 s between two cars (item 2: only jumps over 10 s used to be handled).
- `vod`: an MP4 file served over HTTP, behind a URL full of credentials (user-info, `api_key`,
  `access_token`, `loginpas`, `apikey`, `auth_token`, `pw`, `psw`): it must end like a file — two
  cars, two finals, no reconnect (item 15) — and no secret may appear in logs, stats.json,
  `status --json` or `check-config` (item 8).
- `hls`: the same two cars as a finished HLS playlist (#EXT-X-ENDLIST) over HTTP: read once, like
  a file, no reconnect (item 15).
- `huge`: an MJPEG file of 4200x4200 frames, over the default max_frame_pixels (4096x4096): refused
  before decoding, with a log line, no plate and no ring sized for it (item 6).

The state files must be owner-only (item 10: run by hand under umask 022).
"""
from __future__ import annotations

import json
import os
import stat
import threading
import time
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer

import av
from benchmarks.hostile import oversized_mjpeg
from bursts import Burst, _frame, make_burst_video
from chaos_helpers import (DaemonProcess, Ledger, Subscriber, chaos_config, counts, events, free_port,
                           no_tracebacks, run_alprd, sql_finals, stats, stop_daemon)

SECRETS = {"user_pw": "Us3rInfoPw", "api_key": "K-api-key-1", "access_token": "K-access-2",
           "loginpas": "K-loginpas-3", "apikey": "K-apikey-4", "auth_token": "K-auth-5", "pw": "K-pw-6",
           "psw": "K-psw-7"}
JUMP_BACK_S = 7.3


def _two_recordings(tmp_path):
    """Recording 1: a car at 0.5-1.6 s, then a lone frame at 6.0 s; recording 2 (pts from 0 again):
    a lone frame at 0, a car at 0.5-1.6 s. Concatenated as MPEG-TS, as a recorder appends files."""
    first = make_burst_video(tmp_path / "rec1.ts", [Burst(0.5, 12)], tail_s=4.4, container="mpegts")
    second = make_burst_video(tmp_path / "rec2.ts", [Burst(0.5, 12)], container="mpegts")
    path = tmp_path / "twice.ts"
    path.write_bytes(first.read_bytes() + second.read_bytes())
    return path


def _hls(video, folder):
    """`video` remuxed as a finished (VOD) HLS playlist in `folder`: index.m3u8 and its segments."""
    folder.mkdir()
    with av.open(str(video)) as inp, av.open(str(folder / "index.m3u8"), "w", format="hls",
                                             options={"hls_time": "1", "hls_playlist_type": "vod"}) as out:
        ins = inp.streams.video[0]
        outs = out.add_stream_from_template(ins)
        for packet in inp.demux(ins):
            if packet.dts is not None:
                packet.stream = outs
                out.mux(packet)
    assert "#EXT-X-ENDLIST" in (folder / "index.m3u8").read_text()


class JumpingCamera:
    """A live HTTP camera: MPEG-TS encoded in real time into the response (no Content-Length).
    Car 1 at 0-2.6 s, car 2 at 8.0-9.1 s of wall time, but between them the camera's clock
    jumps back JUMP_BACK_S; then the camera stays silent and hangs up. One session only."""

    def __init__(self) -> None:
        camera = self
        self.served = 0

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if camera.served:
                    self.send_error(404)
                    return
                camera.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.end_headers()
                try:
                    camera._stream(self.wfile)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/live.ts"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _stream(self, wfile) -> None:
        """Two encoder sessions back to back in one response, as a camera whose clock is reset
        restarts its encoder: the demuxer sees one stream whose pts go back."""
        tb = Fraction(1, 1000)
        start = time.monotonic()
        # car 1 is long enough (26 frames) for FFmpeg's probe to finish on it; the silence after it
        # is shorter than the read timeout, longer than max_unseen_s
        sessions = [(0.0, [0.1 * j for j in range(27)]), (-JUMP_BACK_S, [8.0 + j / 10 for j in range(12)])]
        i = 0
        for shift, schedule in sessions:
            with av.open(wfile, "w", format="mpegts") as out:
                s = out.add_stream("libx264", rate=10)
                s.width, s.height = 320, 240
                s.pix_fmt = "yuv420p"
                s.time_base = tb
                s.codec_context.time_base = tb
                s.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
                for t in schedule:
                    time.sleep(max(0.0, start + t - time.monotonic()))
                    frame = av.VideoFrame.from_ndarray(_frame(i, (320, 240), 100), format="bgr24")
                    frame.pts = int(round((20.0 + t + shift) * 1000))
                    frame.time_base = tb
                    for p in s.encode(frame):
                        out.mux(p)
                    wfile.flush()
                    i += 1
                for p in s.encode(None):
                    out.mux(p)
            wfile.flush()
        time.sleep(8.0)  # silent, then the camera hangs up

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FileServer:
    def __init__(self, directory) -> None:
        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(directory), **kw)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _no_secret(where: str, text: str) -> None:
    for key, value in SECRETS.items():
        assert value not in text, f"{key}'s value shown in {where}"


def test_clock_jumps_finite_http_oversized_frames_and_secrets(tmp_path, chaos_weights):
    twice = _two_recordings(tmp_path)
    web = tmp_path / "web"
    web.mkdir()
    make_burst_video(web / "vod.mp4", [Burst(0.5, 12), Burst(4.2, 12)])
    _hls(web / "vod.mp4", web / "hls")
    huge = oversized_mjpeg(tmp_path / "huge.avi", 4200, 6, rate=10)
    files, camera = FileServer(web), JumpingCamera()
    query = "&".join(f"{k}={v}" for k, v in SECRETS.items() if k != "user_pw")
    vod_url = f"http://viewer:{SECRETS['user_pw']}@127.0.0.1:{files.port}/vod.mp4?ch=1&{query}"
    port = free_port()
    state = tmp_path / "state"
    db = state / "events.db"
    cams = [{"id": "twice", "url": str(twice)}, {"id": "jump", "url": camera.url},
            {"id": "vod", "url": vod_url}, {"id": "huge", "url": str(huge)},
            {"id": "hls", "url": f"http://127.0.0.1:{files.port}/hls/index.m3u8"}]
    cfg = chaos_config(tmp_path / "alprd.yaml", cams, state_dir=state, weights=chaos_weights, bus_port=port,
                       sql_url=f"sqlite:///{db}", tracking={"max_unseen_s": 1.5},
                       defaults={"fps": 5, "open_timeout_s": 10, "read_timeout_s": 7,
                                 "reconnect_min_s": 0.5, "reconnect_max_s": 2})
    check = run_alprd("check-config", "-c", str(cfg), cwd=tmp_path)
    assert check.returncode == 0, check.stderr
    _no_secret("check-config", check.stdout + check.stderr)
    assert "?ch=1&api_key=***" in check.stdout and "viewer:***@" in check.stdout
    old_umask = os.umask(0o022)  # an operator's shell
    sub = Subscriber(f"tcp://127.0.0.1:{port}")
    d = DaemonProcess(cfg, tmp_path)
    os.umask(old_umask)
    try:
        try:
            d.wait_for(lambda: len(sub.finals("jump")) >= 2 and len(sub.finals("twice")) >= 2
                       and len(sub.finals("vod")) >= 2 and len(sub.finals("hls")) >= 2, 150,
                       "two finals from twice, jump, vod and hls")
        except AssertionError as exc:
            raise AssertionError(f"finals: {counts(sub.finals())}, previews: "
                                 f"{counts(sub.events('plate.preview'))}\n{exc}") from None
        d.wait_for(lambda: all(stats(state)["decoders"][c]["running"] == 0 for c in ("twice", "vod", "huge", "hls")),
                   60, "the finite sources to end")
        time.sleep(3.0)  # a reconnect storm would show here
        status = run_alprd("status", "--json", "--state-dir", str(state), cwd=tmp_path)
        assert stop_daemon(d) == 0, d.stderr[-4000:]
    finally:
        d.close()
        sub.close()
        files.close()
        camera.close()
    err = d.stderr
    no_tracebacks(err)
    s = stats(state)
    ledger = Ledger("hostile sources", {"twice": 2, "jump": 2, "vod": 2, "huge": 0, "hls": 2},
                    sql_finals(f"sqlite:///{db}"), sub.finals(), sub.events("plate.preview"),
                    events(state / "events.jsonl", "plate.final"), counted=s["events"]["plate.final"])
    ledger.check()
    # each final is a whole car (>= 4 of its 6-13 sampled frames), not a few frames of a car cut
    # off by a clock that went back, or decoded late
    assert all(e["reads"] >= 4 for e in sub.finals()), [(e["camera_id"], e["reads"]) for e in sub.finals()]
    dec = s["decoders"]
    # item 2: the clock went back once in each, sampling resynchronised and said so
    assert dec["twice"]["clock_resyncs"] == 1 and dec["jump"]["clock_resyncs"] == 1, dec
    assert "twice: the stream's clock went back" in err and "jump: the stream's clock went back" in err
    # item 15: an HTTP file is a file: read once, paced, no reconnect
    assert dec["vod"]["reconnects"] == 0 and dec["vod"]["decoded"] == 25, dec["vod"]
    assert err.count("vod: connected to") == 1 and "vod: end of http://viewer:***@" in err
    assert dec["hls"]["reconnects"] == 0 and dec["hls"]["decoded"] == 25 and err.count("hls: connected to") == 1, \
        dec["hls"]
    # item 6: refused before decoding, said once in a clear line, no frame reached the ring
    assert dec["huge"]["sampled"] == 0 and dec["huge"]["oversized"] >= 1, dec["huge"]
    assert "huge:" in err and "max_frame_pixels" in err
    # item 8: no secret anywhere a URL is shown
    _no_secret("the daemon's log", err + d.stdout)
    _no_secret("stats.json", (state / "stats.json").read_text())
    assert status.returncode in (0, 3), status.stderr
    _no_secret("status --json", status.stdout + status.stderr)
    assert "api_key=***" in json.dumps(s) and "loginpas=***" in json.dumps(s)
    # item 10: state files owner-only under an operator's umask 022
    shown = []
    for p in [state, *state.rglob("*")]:
        mode = stat.S_IMODE(p.stat().st_mode)
        if mode & 0o077:
            shown.append(f"{p.relative_to(tmp_path)} {mode:o}")
    assert not shown, f"readable by others: {shown}"
