"""How a camera's stream is decoded: codec threads, frames the decoder may skip, hardware decoding.

Why it is its own module: FrameSource keeps the clock and the sampling; what FFmpeg is asked to do
per packet is decided here, where the benchmark (benchmarks/decoding.py) can drive it too.

- Threads: a few per camera (not one per core each: N cameras would start N x cores threads).
  Frame threads hold the last frames of a live stream back until more packets come, so a live
  stream gets slice threads unless told otherwise; a file gets both ("auto").
- Skipping: a packet whose frame falls between two sampled frames (its pts is before the next due
  time) is decoded with skip_frame=NONREF: when nothing references it (B-frames, non-reference
  P-frames) FFmpeg does not decode it at all; reference frames are decoded as before, so sampling
  and timestamps are unchanged. While the consumer says the scene is idle (`idle`), only key frames
  are decoded (NONKEY): a still scene costs one decoded frame per GOP; the first key frame that
  shows a change ends it, and since that key frame was decoded the frames after it decode cleanly.
- Hardware: `hwaccel` names an FFmpeg device type (cuda, vaapi, qsv...). When the device cannot be
  opened or does not decode the stream, decoding goes on in software, said once per source.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

log = logging.getLogger(__name__)

_EPS_S = 0.002  # as the sampler (alprd.stream.source._SAMPLE_EPS_S)
THREAD_TYPES = ("auto", "slice", "frame")  # "auto": slice threads for live streams, both for files


@dataclass(frozen=True)
class DecodeParams:
    """The resolved decoding settings of one camera (alprd.config.DecodeConfig)."""

    threads: int = 2
    thread_type: str = "auto"
    skip_nonref: bool = True          # skip non-reference frames that fall between sampled frames
    idle_keyframes_after_s: float | None = None  # key frames only after this long without change
    hwaccel: str | None = None        # an FFmpeg hardware device type, None = software
    hwaccel_device: str | None = None


def hwaccel_types() -> list[str]:
    """Device types this FFmpeg build knows (not proof that such a device is present)."""
    try:
        from av.codec.hwaccel import hwdevices_available
        return list(hwdevices_available())
    except Exception:  # an FFmpeg/PyAV build without hwaccel support
        return []


class HwFallback:
    """Tries the hardware decoder once per source and remembers a failure, so a camera without the
    device does not pay (or log) a failed device open on every reconnect."""

    def __init__(self, params: DecodeParams, name: str) -> None:
        self.params = params
        self.name = name
        self.failed = params.hwaccel is None
        self.active = False  # the last opened stream decodes on the device

    def accel(self):
        """The HWAccel to pass to av.open, or None for software."""
        if self.failed:
            return None
        from av.codec.hwaccel import HWAccel
        return HWAccel(self.params.hwaccel, device=self.params.hwaccel_device,
                       allow_software_fallback=True)

    def give_up(self, why: str) -> None:
        if not self.failed:
            log.warning("%s: hardware decoding (%s) unavailable: %s; decoding in software",
                        self.name, self.params.hwaccel, why)
        self.failed = True
        self.active = False

    def opened(self, codec_context) -> None:
        """After the first frame: did the device take the stream? (FFmpeg falls back silently.)"""
        if self.failed:
            return
        self.active = bool(getattr(codec_context, "is_hwaccel", False))
        if not self.active:
            self.give_up(f"it does not decode {codec_context.name} {codec_context.width}x"
                         f"{codec_context.height}")


def open_container(url: str, hw: HwFallback, **kw):
    """av.open with the hardware device when one is configured and not known to fail; when opening
    with it fails but without it works, the device is the culprit: software from now on."""
    if hw.failed:
        return av.open(url, **kw)
    try:
        return av.open(url, hwaccel=hw.accel(), **kw)
    except Exception as exc:  # PyAV raises PermissionError, RuntimeError, FFmpegError...
        container = av.open(url, **kw)  # a failure here is the URL's, raised to the caller
        hw.give_up(str(exc) or type(exc).__name__)
        return container


def configure(stream, params: DecodeParams, live: bool) -> None:
    """Threads on the stream's codec context, before its first packet."""
    cc = stream.codec_context
    cc.thread_count = max(1, params.threads)
    kind = params.thread_type
    if kind == "auto":
        kind = "slice" if live else "auto"
    if params.idle_keyframes_after_s is not None:
        # Frame threads return a frame packets after it was sent: by the time a key frame shows a
        # change, the packets after it would already have been skipped. Slice threads do not lag.
        kind = "slice"
    stream.thread_type = kind.upper()


class SkipPolicy:
    """Per packet, which frames FFmpeg may skip (codec_context.skip_frame)."""

    def __init__(self, params: DecodeParams, time_base: Fraction | None, period: float | None = None) -> None:
        self.params = params
        self.time_base = time_base
        self.period = period     # the sampling period (1/fps); None: every frame is sampled
        self.idle = False        # set by the consumer: key frames only
        self.current = "DEFAULT"
        self.skipped_nonref = 0  # packets sent with NONREF (FFmpeg drops those it can)
        self.keyframes_only = 0  # packets sent while idle
        self.packets = 0         # packets with data sent to the decoder
        self._recent: deque[float] = deque(maxlen=32)  # stream times of the last packets

    def choose(self, packet, ts_of_media, next_due: float, last_media: float) -> str:
        """`ts_of_media(seconds)` maps stream time to our clock (None until anchored); `next_due`
        and `last_media` are the sampler's, as of the last frame out of the decoder."""
        if packet.size:
            self.packets += 1
        if self.idle:
            self.keyframes_only += 1
            return "NONKEY"
        if not self.params.skip_nonref or packet.pts is None or self.time_base is None or not self.period:
            return "DEFAULT"
        media = float(packet.pts * self.time_base)
        earlier = [m for m in self._recent if m < media]
        self._recent.append(media)
        if not earlier or media < last_media - 1e-3 or not math.isfinite(next_due):
            return "DEFAULT"  # no frame before it seen, the clock went back, or nothing sampled yet
        ts, prev = ts_of_media(media), ts_of_media(max(earlier))
        if ts is None or prev is None:
            return "DEFAULT"  # not anchored yet
        # The sampler takes the first frame at or after each point of its grid (next_due + k*period).
        # The decoder returns frames a few packets late (frame threads, reordering), so next_due may
        # lag this packet, but the grid is the same: the frame is sampled iff a grid point lies in
        # (previous frame, this frame].
        grid = next_due + math.ceil((prev + _EPS_S - next_due) / self.period) * self.period
        if grid <= prev + _EPS_S:
            grid += self.period
        if grid > ts + _EPS_S:
            self.skipped_nonref += 1
            return "NONREF"
        return "DEFAULT"

    def apply(self, codec_context, mode: str) -> None:
        if mode != self.current:
            codec_context.skip_frame = mode
            self.current = mode


_Y_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}


def grey_view(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma as an H×W uint8 array: a view of the Y plane, no conversion, when the
    format has one (every camera codec's); otherwise a converted copy."""
    if frame.format.name in _Y_FIRST:
        plane = frame.planes[0]
        arr = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
        return arr[:, :frame.width]
    return frame.to_ndarray(format="gray")


def limited_range(frame: av.VideoFrame) -> bool:
    """Luma in 16-235 (video range, what cameras send) rather than 0-255 (yuvj*, JPEG range)."""
    return frame.format.name in _Y_FIRST and not frame.format.name.startswith("yuvj") \
        and frame.format.name != "gray" and int(getattr(frame, "color_range", 0) or 0) != 2
