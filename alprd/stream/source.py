"""FrameSource: one camera URL (RTSP, HTTP/HLS or a file) as a stream of sampled BGR frames.

Why it looks like this:
- PyAV does the demuxing and decoding; FFmpeg's own reconnect options are not relied upon because
  they differ per protocol. Instead any failure (open error, read timeout, end of a live stream —
  PyAV just stops yielding when an RTSP server dies) closes the container and the loop reopens it
  with exponential backoff and jitter, forever, until stopped.
- Frames are sampled on the stream's own clock (pts), not by counting, so a 25 fps camera at a
  10 fps target yields 10 frames per second of video even when frames are missing.
- Timestamps are pts anchored to the wall clock at the first frame of each connection (and of each
  pass of a looped file), then forced strictly increasing, so consumers can rely on order. A clock
  that goes back (a file of two recordings whose pts restart at 0, a camera whose clock is reset)
  re-anchors at once, so sampling goes on one frame period later instead of skipping every frame
  until the old clock is caught up; each such resync is counted and logged.
- Frames above `max_frame_pixels` are refused by FFmpeg itself (its `max_pixels` option, in the
  probe and in the decoder), before any buffer is allocated for them: a hostile stream cannot size
  the shared-memory ring, or this process, by the frames it claims.
- An HTTP(S) source that turns out to be finite (a video file, a finished HLS playlist: the
  container declares a duration) behaves like a file: paced to its own clock, and its end is the
  end of the source (or of a pass with `loop`), not a disconnection to retry flat out.
- Logs say state changes once (connected, disconnected and why, retrying); each retry is DEBUG.
- Credentials never reach a log line: every URL and error text goes through `mask_text`.
"""
from __future__ import annotations

import logging
import math
import random
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator
from urllib.parse import urlsplit

import av
import numpy as np

from alprd.stream.decoding import DecodeParams, HwFallback, SkipPolicy, configure, open_container
from alprd.stream.urls import HTTP_SCHEMES, LIVE_SCHEMES, is_live, mask_text, mask_url  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)

_MAX_BAD_PACKETS = 100  # consecutive undecodable packets before a connection is given up
_MAX_DRIFT_S = 10.0  # a live stream whose clock wanders this far from ours is re-anchored
_BACKWARDS_S = 1e-3  # a pts this far below the previous frame's is a clock that went back
DEFAULT_MAX_FRAME_PIXELS = 4096 * 4096  # 4K/DCI cameras fit; 8 ring slots of these are 400 MB
_LOG_EVERY_S = 60.0
_SAMPLE_EPS_S = 0.002

Frame = tuple[int, float, np.ndarray]


def backoff_delay(failures: int, min_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Delay before retry number `failures` (1-based): min·2^(n-1) capped at max, jittered to
    [50 %, 100 %] so many cameras behind one dead switch do not retry in lock-step."""
    base = min(max_s, min_s * 2 ** max(0, failures - 1))
    return base * (rng or random).uniform(0.5, 1.0)


@dataclass
class SourceCounters:
    decoded: int = 0      # frames out of the decoder
    sampled: int = 0      # frames yielded after fps sampling
    errors: int = 0       # failed opens, read errors/timeouts, undecodable packets
    reconnects: int = 0   # retries after a failed open or a lost live connection
    clock_resyncs: int = 0  # times the stream's clock went back and sampling was re-anchored
    clock_skipped: int = 0  # frames not sampled because their time did not move forward
    oversized: int = 0      # connections/passes refused for frames above max_frame_pixels


class _EndOfPass(Exception):
    """Internal: a connection or a pass over a file is over; `reason` says why."""


class FrameSource:
    """Iterate to get `(seq, timestamp, frame)`; `stop()` (any thread) ends the iteration.

    `stop_event` may be a threading or multiprocessing Event shared with a supervisor. Stopping is
    checked between packets and during backoff; a blocking open or read can delay it by at most
    `open_timeout_s` / `read_timeout_s`.
    `realtime` paces a file to its own clock (a simulated camera) instead of decoding flat out;
    None paces exactly the finite sources (files, HTTP files and finished playlists), never a live one.
    `max_frame_pixels` bounds width x height: bigger frames are refused before they are decoded.
    `on_change(source)` is called on every state change and counter update worth publishing.
    `decode` sets threads, frame skipping and hardware decoding (alprd.stream.decoding);
    `video_frames()` yields the decoded av.VideoFrame instead of a BGR array (convert only what
    you keep), and `set_idle(True)` asks for key frames only until `set_idle(False)`.
    """

    def __init__(self, url: str, fps: float | None = None, *, loop: bool = False,
                 open_timeout_s: float = 10.0, read_timeout_s: float = 10.0,
                 reconnect_min_s: float = 0.5, reconnect_max_s: float = 30.0,
                 realtime: bool | None = False, live: bool | None = None, stop_event=None,
                 name: str | None = None, on_change: Callable[["FrameSource"], None] | None = None,
                 max_frame_pixels: int = DEFAULT_MAX_FRAME_PIXELS, decode: DecodeParams | None = None):
        if fps is not None and fps <= 0:
            raise ValueError("fps must be positive")
        if max_frame_pixels < 1:
            raise ValueError("max_frame_pixels must be positive")
        self.url = url
        self.masked_url = mask_url(url)
        self.name = name or self.masked_url
        self.fps = fps
        self.loop = loop
        self.live = is_live(url) if live is None else live
        self.timeout = (open_timeout_s, read_timeout_s)
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = max(reconnect_min_s, reconnect_max_s)
        self.realtime = realtime
        self.max_frame_pixels = int(max_frame_pixels)
        # an HTTP(S) URL is live until a connection declares a duration (then it is a file)
        self.finite = not self.live
        self.counters = SourceCounters()
        self.connected = False
        self.width = self.height = 0
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._on_change = on_change
        self._seq = 0
        self._last_ts = 0.0
        self._next_due = -math.inf
        self._logged_at: dict[str, float] = {}
        self.decode = decode or DecodeParams()
        self._hw = HwFallback(self.decode, self.name)
        self._skip = SkipPolicy(self.decode, None)

    @classmethod
    def from_config(cls, camera, defaults, fps: float, **kw) -> "FrameSource":
        """Build from a CameraConfig and the resolved CameraDefaults (fps already inherited)."""
        max_pixels = getattr(camera, "max_frame_pixels", None) or getattr(
            defaults, "max_frame_pixels", None) or DEFAULT_MAX_FRAME_PIXELS
        return cls(camera.url, fps, loop=camera.loop, name=camera.id, max_frame_pixels=max_pixels,
                   open_timeout_s=defaults.open_timeout_s, read_timeout_s=defaults.read_timeout_s,
                   reconnect_min_s=defaults.reconnect_min_s, reconnect_max_s=defaults.reconnect_max_s,
                   **kw)

    # -- control -------------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def set_idle(self, idle: bool) -> None:
        """Key frames only (idle) or every frame again; takes effect from the next packet. Ignored
        unless `idle_keyframes_after_s` is configured and the stream has no B-frames."""
        self._skip.idle = bool(idle) and self.decode.idle_keyframes_after_s is not None \
            and not self._reordered

    @property
    def idle(self) -> bool:
        return self._skip.idle

    @property
    def hw_active(self) -> bool:
        """The stream decodes on the configured hardware device."""
        return self._hw.active

    # -- main loop -----------------------------------------------------------------------------
    def frames(self) -> Iterator[Frame]:
        """Yield sampled frames as BGR arrays until stopped, or until a non-live source is finished."""
        for seq, ts, frame in self.video_frames():
            yield seq, ts, frame.to_ndarray(format="bgr24")

    def video_frames(self) -> Iterator[tuple[int, float, av.VideoFrame]]:
        """Yield sampled frames as decoded av.VideoFrames (see `frames`)."""
        failures = 0  # consecutive connections that produced no frame
        loop_anchor: float | None = None  # wall time the next pass of a looped file starts at
        while not self.stopped:
            try:
                container = open_container(self.url, self._hw, options=self._options(), timeout=self.timeout,
                                           stream_options=[self._codec_options()])
            except Exception as exc:  # PyAV raises many types (FFmpegError, OSError, ValueError)
                self.counters.errors += 1
                if not self.live:
                    log.error("%s: cannot open %s: %s", self.name, self.masked_url, self._why(exc))
                    break
                failures += 1
                self._retry_after(failures, f"cannot open {self.masked_url}: {self._why(exc)}")
                continue
            reason = "end of stream"
            decoded_before, errors_before = self.counters.decoded, self.counters.errors
            try:
                yield from self._decode(container, loop_anchor)
            except _EndOfPass as end:
                reason = str(end)
            except Exception as exc:
                self.counters.errors += 1
                reason = self._why(exc)
            finally:
                container.close()
            if self.stopped:
                break
            was_connected = self.connected
            got_frames = self.counters.decoded > decoded_before
            if self.live and not (self.finite and reason == "end of stream"):
                self.connected = False
                failures = 0 if got_frames else failures + 1
                if was_connected:
                    log.warning("%s: disconnected from %s: %s; reconnecting", self.name,
                                self.masked_url, reason)
                self._retry_after(max(1, failures), reason, quiet=was_connected)
                continue
            # frames FFmpeg skipped on request were there: count the packets that carried them
            self._report_damage(max(self.counters.decoded - decoded_before, self._skip.packets),
                                self.counters.errors - errors_before)
            if reason != "end of stream":
                log.error("%s: %s is unreadable (%s); source ends", self.name, self.masked_url, reason)
                break
            if not (self.loop and got_frames):
                self.connected = False
                log.info("%s: end of %s", self.name, self.masked_url)
                break
            loop_anchor = self._last_decoded_ts + self._frame_period
            log.debug("%s: looping %s", self.name, self.masked_url)
        self.connected = False
        self._changed()

    def _decode(self, container, loop_anchor: float | None) -> Iterator[tuple[int, float, av.VideoFrame]]:
        stream = container.streams.video[0] if container.streams.video else None
        if stream is None:
            raise _EndOfPass("no video stream")
        # A few threads per camera: decoding keeps up with HD streams without N cameras each
        # starting one thread per core.
        stream.codec_context.options = self._codec_options()
        self._check_size(stream.codec_context.width, stream.codec_context.height)
        if self.live:
            # a declared duration: an HTTP video file or a finished HLS playlist, not a camera
            self.finite = bool(container.duration and container.duration > 0
                               and urlsplit(self.url).scheme.lower() in HTTP_SCHEMES)
        configure(stream, self.decode, live=not self.finite)
        cc = stream.codec_context
        idle, self._skip = self._skip.idle, SkipPolicy(self.decode, stream.time_base,
                                                           1.0 / self.fps if self.fps else None)
        self._skip.idle = idle  # a reconnect starts at a key frame: idle may go on
        self._reordered = False
        self._declared_frames = stream.frames  # 0 when the container does not say
        rate = stream.average_rate or stream.guessed_rate
        self._frame_period = float(1 / rate) if rate else 0.04
        anchor_wall = loop_anchor if loop_anchor is not None else time.time()
        anchor_media: float | None = None
        last_media = 0.0
        nth = bad = 0

        def ts_of_media(m: float) -> float | None:
            return None if anchor_media is None else anchor_wall + (m - anchor_media)

        for packet in container.demux(stream):
            if self.stopped:
                return
            self._skip.apply(cc, self._skip.choose(packet, ts_of_media, self._next_due, last_media))
            try:
                decoded = packet.decode()
                bad = 0
            except av.error.FFmpegError as exc:
                self.counters.errors += 1
                bad += 1
                if isinstance(exc, av.error.ArgumentError) and stream.codec_context.width == 0 \
                        and not self.connected:
                    # FFmpeg refuses frames over max_pixels with EINVAL before allocating them
                    self.counters.oversized += 1
                    raise _EndOfPass(f"frames refused: larger than max_frame_pixels "
                                     f"({self.max_frame_pixels} pixels) or invalid") from None
                log.debug("%s: undecodable packet: %s", self.name, self._why(exc))
                if bad >= _MAX_BAD_PACKETS:
                    raise _EndOfPass(f"{bad} undecodable packets in a row") from None
                continue
            for frame in decoded:
                self._check_size(frame.width, frame.height)
                self.counters.decoded += 1
                if not self.connected:
                    self._announce(stream)
                    self._hw.opened(cc)
                    self._reordered = bool(cc.has_b_frames)
                    if self._reordered and self.decode.idle_keyframes_after_s is not None:
                        self._skip.idle = False
                        self._log_sometimes("bframes", logging.INFO, "%s: the stream has B-frames: "
                                            "key-frame-only decoding while idle is off", self.name)
                # RTSP's first frame often has no pts: place such frames one period apart
                # and anchor the clock so the first real pts lands where it belongs.
                media = frame.time
                if media is None and anchor_media is not None:
                    media = last_media + self._frame_period
                if media is None:
                    ts = anchor_wall + nth * self._frame_period
                else:
                    if anchor_media is None:
                        anchor_media = media - nth * self._frame_period
                    elif media < last_media - _BACKWARDS_S:  # the clock went back: resync now
                        # a file goes on one frame later; a live frame is shown now
                        anchor_wall = self._last_decoded_ts + self._frame_period
                        if self.live and not self.finite:
                            anchor_wall = max(anchor_wall, time.time())
                        anchor_media = media
                        self._clock_went_back(last_media - media)
                    last_media = media
                    ts = anchor_wall + (media - anchor_media)
                nth += 1
                now = time.time()
                if self.live and not self.finite and abs(ts - now) > _MAX_DRIFT_S:  # clock leapt or lags
                    anchor_wall += now - ts
                    ts = now
                self._last_decoded_ts = ts
                moved = ts > self._last_ts
                ts = max(ts, self._last_ts + 1e-6)
                if not self._take(ts):
                    if not moved:
                        self.counters.clock_skipped += 1
                        self._log_sometimes("skipped", logging.INFO, "%s: %d frame(s) whose time did "
                                            "not move forward not sampled", self.name,
                                            self.counters.clock_skipped)
                    continue
                if self._paced:
                    delay = ts - time.time()
                    if delay > 0 and self._stop.wait(delay):
                        return
                self._last_ts = ts
                self.height, self.width = frame.height, frame.width
                seq = self._seq
                self._seq += 1
                self.counters.sampled += 1
                yield seq, ts, frame

    def _take(self, ts: float) -> bool:
        """Keep a frame when it reaches the next due time on the stream clock."""
        if self.fps is None:
            return True
        if ts + _SAMPLE_EPS_S < self._next_due:
            return False
        period = 1.0 / self.fps
        self._next_due += period
        if self._next_due <= ts:  # first frame, or a gap (reconnect, dropped frames): resync
            self._next_due = ts + period
        return True

    # -- helpers -------------------------------------------------------------------------------
    @property
    def _paced(self) -> bool:
        """Decode at the stream's own speed: files as a camera would show them (see `realtime`)."""
        if self.realtime is None:
            return self.finite
        return bool(self.realtime) and self.finite

    def _codec_options(self) -> dict[str, str]:
        return {"max_pixels": str(self.max_frame_pixels)}

    def _check_size(self, width: int, height: int) -> None:
        if width * height > self.max_frame_pixels:
            self.counters.oversized += 1
            raise _EndOfPass(f"frames of {width}x{height} are larger than max_frame_pixels "
                             f"({self.max_frame_pixels} pixels); refused")

    def _clock_went_back(self, by_s: float) -> None:
        self.counters.clock_resyncs += 1
        self._log_sometimes("clock", logging.WARNING, "%s: the stream's clock went back %.3f s; "
                            "sampling resynchronised (%d time(s) so far)", self.name, by_s,
                            self.counters.clock_resyncs)

    def _log_sometimes(self, key: str, level: int, msg: str, *args) -> None:
        """A state change that may repeat: at `level` once a minute, at DEBUG in between."""
        now = time.monotonic()
        if now - self._logged_at.get(key, -math.inf) >= _LOG_EVERY_S:
            self._logged_at[key] = now
            log.log(level, msg, *args)
        else:
            log.debug(msg, *args)

    _frame_period = 0.04
    _last_decoded_ts = 0.0

    _declared_frames = 0
    _reordered = False

    def _report_damage(self, decoded: int, bad_packets: int) -> None:
        """A damaged file still ends cleanly, but says so once per pass."""
        if bad_packets:
            log.warning("%s: %s: skipped %d undecodable packet(s)", self.name, self.masked_url, bad_packets)
        if 0 < decoded < self._declared_frames and not bad_packets:
            log.warning("%s: %s ended after %d of %d frames (truncated?)", self.name, self.masked_url,
                        decoded, self._declared_frames)

    def _announce(self, stream) -> None:
        """First frame of a connection: that is when a camera counts as connected."""
        self.connected = True
        rate = stream.average_rate or stream.guessed_rate
        log.info("%s: connected to %s (%s %dx%d @ %s fps)", self.name, self.masked_url,
                 stream.codec_context.name, stream.codec_context.width,
                 stream.codec_context.height, f"{float(rate):g}" if rate else "?")
        self._changed()

    def _options(self) -> dict[str, str]:
        scheme = urlsplit(self.url).scheme.lower()
        if scheme in ("rtsp", "rtsps"):
            return {"rtsp_transport": "tcp"}
        return {}

    def _retry_after(self, failures: int, reason: str, quiet: bool = False) -> None:
        """Sleep the backoff. Only the first failure of a streak is logged above DEBUG (unless the
        caller already said why), so a camera that is down for a day logs one line, not 10 000."""
        delay = backoff_delay(failures, self.reconnect_min_s, self.reconnect_max_s)
        if failures == 1 and not quiet:
            log.warning("%s: %s; retrying with backoff %g-%g s", self.name, reason,
                        self.reconnect_min_s, self.reconnect_max_s)
        else:
            log.debug("%s: %s; retry %d in %.2f s", self.name, reason, failures, delay)
        self.counters.reconnects += 1
        self._changed()
        self._stop.wait(delay)

    def _why(self, exc: BaseException) -> str:
        text = str(exc) or type(exc).__name__
        return mask_text(text.replace(self.url, self.masked_url))

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self)
