"""Lanes: several Recognizers side by side in the inference worker, each reading its own cameras.

On a CPU host the nets are small: one Recognizer running ONNX Runtime on two intra-op threads
spends about a quarter of its CPU keeping the threads in step (the distant-cars frames, 4 cameras
of 1080p, 2 cores: 63-66 CPU-ms a frame against 51 on one thread) and leaves the cores idle while
Python warps, decodes and repairs reads. Two Recognizers of one thread each, working on different
cameras' frames at once, use the same two cores for whole frames: 25-26 → 35 frames a second on
that benchmark (docs/performance.md). ONNX Runtime and OpenCV release the GIL, so Python threads
suffice.

A camera stays in one lane (its second look, followed plates and settled junk live in that
lane's Recognizer), given on first sight to the lane with the fewest cameras. A batch is split by
lane, the lanes run concurrently, and the results come back in the batch's order. Stills (no
streams) are shared out in turn. The daemon's worker does not batch across lanes: it gives each
lane its own cameras' frames as soon as the lane is free (alprd.infer.lane_loop).
"""
from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor

MAX_AUTO = 8          # lanes chosen by auto at most


def auto_lanes(device: str, cameras: int) -> int:
    """Lanes for `inference.lanes: 0`: one per CPU core this process may use, at most one per
    camera; one on a GPU (its batches are what make it fast)."""
    from alprd.backends.torch_backend import pick_device

    if pick_device(device).type != "cpu":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:                     # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, cameras, MAX_AUTO))


class Lanes:
    """A Recognizer's recognize() over several Recognizers; every other attribute is the first
    lane's (trained, backend, meta...). Not thread-safe: one caller at a time, like a Recognizer."""

    def __init__(self, recognizers: Sequence) -> None:
        if not recognizers:
            raise ValueError("lanes need at least one recognizer")
        self.lanes = list(recognizers)
        self._lane_of: dict[Hashable, int] = {}
        self._pool = ThreadPoolExecutor(len(self.lanes) - 1, "alprd-lane") if len(self.lanes) > 1 else None

    def __getattr__(self, name):
        if name == "lanes":                        # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.lanes[0], name)

    def lane_of(self, stream: Hashable) -> int:
        lane = self._lane_of.get(stream)
        if lane is None:
            counts = [0] * len(self.lanes)
            for v in self._lane_of.values():
                counts[v] += 1
            lane = self._lane_of[stream] = counts.index(min(counts))
        return lane

    def keep(self, streams) -> None:
        """Forget the lanes of cameras no longer configured (a reload removed them), so new ones
        go where the load now is."""
        keep = set(streams)
        self._lane_of = {k: v for k, v in self._lane_of.items() if k in keep}

    def recognize(self, frames: Sequence, streams: Sequence | None = None) -> list:
        if len(self.lanes) == 1:
            return self.lanes[0].recognize(frames, streams)
        groups: dict[int, list[int]] = {}
        for i in range(len(frames)):
            groups.setdefault(self.lane_of(streams[i]) if streams is not None else i % len(self.lanes), []).append(i)

        def run(lane: int, idx: list[int]) -> list:
            return self.lanes[lane].recognize([frames[i] for i in idx],
                                              [streams[i] for i in idx] if streams is not None else None)

        work = sorted(groups.items(), key=lambda kv: -len(kv[1]))
        futures = [(idx, self._pool.submit(run, lane, idx)) for lane, idx in work[1:]]
        out: list = [None] * len(frames)
        lane, idx = work[0] if work else (0, [])
        try:
            for i, r in zip(idx, run(lane, idx) if idx else []):   # the largest share in this thread
                out[i] = r
        finally:
            for more, fut in futures:                  # every lane done before returning or raising
                for i, r in zip(more, fut.result()):
                    out[i] = r
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
