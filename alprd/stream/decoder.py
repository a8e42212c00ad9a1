"""The body of one decoder process: FrameSource -> FrameRing -> FrameRef on a queue.

One process per camera (spawn start method), so a codec crash or a hung socket takes down one
camera, not the daemon. It knows nothing about models. It never blocks on its consumer: a full
queue loses its oldest descriptor, a full ring its oldest frame, and both are counted in the
shared `DecoderStats` the supervisor reads.
"""
from __future__ import annotations

import logging
import queue as queue_mod
import time
from dataclasses import replace
from multiprocessing import get_context

from alprd.config import CameraConfig, CameraDefaults
from alprd.stream.decoding import DecodeParams, grey_view, limited_range
from alprd.stream.motion import MOVED, STILL, GateParams, MotionGate
from alprd.stream.ring import FrameRef, FrameRing
from alprd.stream.source import FrameSource

log = logging.getLogger(__name__)

_FIELDS = ("decoded", "sampled", "dropped", "queue_dropped", "reconnects", "errors", "connected",
           "last_frame_ts", "width", "height", "running", "clock_resyncs", "clock_skipped", "oversized",
           "gated")


class DecoderStats:
    """Counters one decoder writes and the supervisor reads, in a lock-free shared array of
    doubles (one writer, so no lock is needed). Hand it to the child as a Process argument: like
    any shared ctypes object it pickles only at process creation, not through a queue.

    Fields: decoded, sampled, dropped (frames overwritten unread in the ring: the frames lost to
    back-pressure, whichever queue or ring lost them), queue_dropped (descriptors evicted from a
    full queue), reconnects, errors, connected (0/1), last_frame_ts (epoch s), width, height,
    running (0/1, set while the decoder loop is alive), clock_resyncs (times the stream's clock went
    back and sampling re-anchored), clock_skipped (frames not sampled because their time did not
    move forward), oversized (connections refused for frames above max_frame_pixels), gated
    (frames the motion gate found unchanged: sent as marks, not inferred).
    """

    __slots__ = ("_arr",)

    def __init__(self, ctx=None):
        self._arr = (ctx or get_context("spawn")).RawArray("d", len(_FIELDS))

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._arr[_FIELDS.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    def set(self, **values: float) -> None:
        for name, value in values.items():
            self._arr[_FIELDS.index(name)] = value

    def snapshot(self) -> dict[str, float]:
        return dict(zip(_FIELDS, self._arr[:]))

    def __getstate__(self):
        return self._arr

    def __setstate__(self, arr) -> None:
        self._arr = arr


def gate_params(camera: CameraConfig, defaults: CameraDefaults) -> GateParams:
    """The camera's motion settings (its own, else the defaults'), with its ROI."""
    m = camera.motion or defaults.motion
    roi = (camera.roi.x, camera.roi.y, camera.roi.width, camera.roi.height) if camera.roi else None
    return GateParams(enabled=m.enabled, threshold=m.threshold, pixel_delta=m.pixel_delta,
                      min_interval_s=m.min_interval_s, width=m.width, roi=roi)


def decode_params(defaults: CameraDefaults) -> DecodeParams:
    """The host's decoding settings (defaults.decode): hardware and threads are per host."""
    d = defaults.decode
    return DecodeParams(threads=d.threads, thread_type=d.thread_type, skip_nonref=d.skip_nonref,
                        idle_keyframes_after_s=d.idle_keyframes_after_s, hwaccel=d.hwaccel,
                        hwaccel_device=d.hwaccel_device)


def put_dropping_oldest(out_queue, item) -> int:
    """put_nowait; when the queue is full evict its oldest item to make room. Returns how many
    items were lost (0, or 1; if another producer refills the queue first, `item` itself)."""
    try:
        out_queue.put_nowait(item)
        return 0
    except queue_mod.Full:
        pass
    try:
        out_queue.get_nowait()
    except queue_mod.Empty:
        pass
    try:
        out_queue.put_nowait(item)
    except queue_mod.Full:
        pass
    return 1


def run_decoder(camera: CameraConfig, defaults: CameraDefaults, fps: float, out_queue, stop_event,
                stats: DecoderStats | None = None, *, realtime: bool | None = None,
                keep_ring_at_end: bool = False) -> None:
    """Decode `camera` until `stop_event` is set or a non-live source ends (then return normally).

    `out_queue` gets one `FrameRef` per sampled frame (a bounded multiprocessing queue; several
    cameras may share it). `realtime` paces files at their own frame rate, as a camera would;
    None means: pace finite sources (files, HTTP files, finished playlists), never live streams. Reconnecting is FrameSource's job; this loop
    only moves frames. The ring is unlinked on every way out, except with `keep_ring_at_end` when
    the source ended by itself: then its last frames stay readable for a consumer that has not
    read them yet (the daemon unlinks the ring once it has; see ring.remove_orphans).
    """
    def publish(src: FrameSource) -> None:
        if stats is not None:
            c = src.counters
            stats.set(decoded=c.decoded, sampled=c.sampled, errors=c.errors, reconnects=c.reconnects,
                      connected=float(src.connected), width=src.width, height=src.height,
                      clock_resyncs=c.clock_resyncs, clock_skipped=c.clock_skipped, oversized=c.oversized)

    source = FrameSource.from_config(camera, defaults, fps, stop_event=stop_event, realtime=realtime,
                                     on_change=publish, decode=decode_params(defaults))
    ring = FrameRing(camera.id, slots=defaults.ring_slots)
    gate = MotionGate(gate_params(camera, defaults))
    queue_dropped = 0
    last_publish = last_ts = 0.0
    if stats is not None:
        stats.set(running=1.0)
    log.info("%s: decoder started (%s, %g fps, %d ring slots)", camera.id, source.masked_url, fps,
             defaults.ring_slots)
    idle_after = source.decode.idle_keyframes_after_s
    moved_ts: float | None = None  # when the gate last saw a change
    ended = False
    try:
        for seq, ts, vframe in source.video_frames():
            # the gate reads the decoder's own luma plane: a still frame is never converted to BGR
            verdict = gate.verdict(grey_view(vframe), ts, limited_range(vframe)) if gate.params.enabled else ""
            if verdict == MOVED or moved_ts is None:
                moved_ts = ts
            if idle_after is not None and gate.params.enabled:
                source.set_idle(ts - moved_ts >= idle_after)
            if verdict != STILL:
                ref: FrameRef = ring.write(vframe.to_ndarray(format="bgr24"), ts, seq)
                if verdict:
                    ref = replace(ref, gate=verdict)
            else:  # a mark, not a frame: nothing to copy, nothing to infer
                ref = FrameRef(camera.id, seq, ts, -1, (vframe.height, vframe.width, 3), "", gate=STILL)
            queue_dropped += put_dropping_oldest(out_queue, ref)
            last_ts = ts
            now = time.monotonic()
            if stats is not None and now - last_publish >= 0.2:
                last_publish = now
                publish(source)
                stats.set(dropped=ring.dropped, queue_dropped=queue_dropped, last_frame_ts=ts,
                          gated=gate.gated)
        ended = not stop_event.is_set()
    finally:
        if stats is not None:
            publish(source)
            stats.set(dropped=ring.dropped, queue_dropped=queue_dropped, last_frame_ts=last_ts,
                      connected=0.0, running=0.0, gated=gate.gated)
        if ended and keep_ring_at_end:
            ring.detach()
        else:
            ring.close()
        # Queued descriptors would make this process wait at exit for a consumer that may be
        # gone; they point into a ring that no longer exists anyway.
        cancel = getattr(out_queue, "cancel_join_thread", None)
        if cancel is not None:
            cancel()
        log.info("%s: decoder stopped (%d frames sampled, %d dropped in ring, %d evicted from queue)",
                 camera.id, source.counters.sampled, ring.dropped, queue_dropped)
