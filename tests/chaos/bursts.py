"""Test streams with known plates for the chaos suite: videos made of bursts separated by silence.

The rigged weights (tests/daemon/helpers_daemon.py) read one plate "A" at a fixed place in every
frame, so what makes plates countable is *when* frames flow: a burst of frames is one car passing
(one track, one plate.final once the camera has been silent for tracking.max_unseen_s) and the
silence between bursts is a gap in the stream's own clock (pts), which a paced file source and an
RTSP server both turn into real silence. A video of K bursts therefore holds exactly K plates.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SIZE = (320, 240)


@dataclass(frozen=True)
class Burst:
    start_s: float   # on the video's clock
    frames: int      # at the video's fps


def burst_schedule(count: int, *, first_s: float = 0.5, length_s: float = 1.2, gap_s: float = 3.0,
                   fps: int = 10) -> list[Burst]:
    """`count` bursts of length_s separated by gap_s of silence."""
    n = max(1, round(length_s * fps))
    return [Burst(first_s + k * (length_s + gap_s), n) for k in range(count)]


def _frame(i: int, size: tuple[int, int], shade: int) -> np.ndarray:
    w, h = size
    img = np.full((h, w, 3), shade, np.uint8)
    x = (i * 7) % (w - 40)
    img[h // 3:h // 3 + 30, x:x + 40] = (0, 200, 255)
    return img


def make_burst_video(path: str | Path, bursts: list[Burst], *, fps: int = 10,
                     size: tuple[int, int] = SIZE, tail_s: float = 0.0, gray: bool = False,
                     container: str = "mp4", faststart: bool = False, lead: bool = True) -> Path:
    """A video whose frames exist only inside the bursts (variable frame rate: the pts jump over
    the silences): H.264 in MP4 (or `container` "mpegts"), or with `gray` a gray-pixel-format
    FFV1 stream in Matroska. `tail_s` adds one last frame that long after the last burst.
    `faststart` puts the MP4 index first (a truncated copy still plays). `lead`: a lone frame at
    0 when the first burst starts later (see below)."""
    path = Path(path)
    w, h = size
    tb = Fraction(1, 1000)
    if gray:
        container = "matroska"
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=container, options=options) as out:
        stream = out.add_stream("ffv1" if gray else "libx264", rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "gray" if gray else "yuv420p"
        stream.time_base = tb
        stream.codec_context.time_base = tb
        stream.codec_context.gop_size = fps
        if not gray:
            stream.codec_context.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0"}
        i = 0
        stamps = [b.start_s + j / fps for b in bursts for j in range(b.frames)]
        if lead and stamps[0] > 0:
            # A stream's first frame is its time zero (sources anchor there): one lone frame at 0
            # keeps the first burst where the schedule puts it. One read never confirms a track.
            stamps.insert(0, 0.0)
        if tail_s:
            stamps.append(stamps[-1] + tail_s)
        for t in stamps:
            img = _frame(i, size, 90 + (i % 3) * 10)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            if gray:
                frame = frame.reformat(format="gray")
            frame.pts = int(round(t * 1000))
            frame.time_base = tb
            for packet in stream.encode(frame):
                out.mux(packet)
            i += 1
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def decoded_times(path: str | Path) -> list[tuple[float, int, int]]:
    """(time, width, height) of every frame FFmpeg can decode from the file (errors end it)."""
    out = []
    try:
        with av.open(str(path)) as c:
            for frame in c.decode(video=0):
                out.append((float(frame.time or 0.0), frame.width, frame.height))
    except av.error.FFmpegError:
        pass
    return out


def plates_in(times: list[float], *, fps: float, max_unseen_s: float, min_hits: int = 2) -> int:
    """Plates a stream of frames at these times holds: runs of frames closer than max_unseen_s,
    with at least min_hits frames once sampled at `fps` (conservative: every other frame of a
    stream at twice the rate)."""
    runs, last = [], None
    for t in sorted(times):
        if last is None or t - last > max_unseen_s:
            runs.append([])
        runs[-1].append(t)
        last = t
    plates = 0
    for run in runs:
        sampled = [run[0]]
        for t in run[1:]:
            if t - sampled[-1] >= 1.0 / fps - 0.002:
                sampled.append(t)
        plates += len(sampled) >= min_hits
    return plates
