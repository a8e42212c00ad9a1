"""Boxes a camera keeps showing that read as no plate, however hard they are looked at.

A street has plate-like things that never move: a sign, a painted box, a grille of a parked van.
DSNet boxes them in every frame, their reads are doubtful, and a doubtful read gets every extra
look the cascade has (wider warps, the closer look at small plates, the smear undone, the two-row
pass): on the distant-cars benchmark one such box cost more than the whole first pass of its
frame. So, per stream (camera), the boxes whose read was not reportable after every extra look
are remembered; in the stream's next frames a box at the same place (bounding-box IoU at least
MIN_IOU) whose first read is again not reportable is read once only, and every RECHECK_EVERY
frames it gets every extra look again (a car that stops there is read in full within a second
at 10 fps). Stills (no stream) are always read in full.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alprd.cascade.refine import box_iou

MIN_IOU = 0.7
RECHECK_EVERY = 8          # frames of a stream between two full looks at a remembered box
MAX_BOXES = 64             # remembered per stream


class SettledJunk:
    """Not thread-safe (one per Recognizer). recheck_every 0 turns it off."""

    def __init__(self, recheck_every: int = RECHECK_EVERY, min_iou: float = MIN_IOU):
        self.recheck_every = recheck_every
        self.min_iou = min_iou
        self._boxes: dict[object, tuple[np.ndarray, np.ndarray]] = {}   # stream → (K×4×2 quads, K ages)

    def settled(self, streams: Sequence | None, plates: Sequence[tuple[int, np.ndarray]]) -> dict[int, int]:
        """Plates (frame index, quad) at a remembered junk box of their frame's stream that is not
        due for a full look → {plate index: that box's age in frames}."""
        if not streams or self.recheck_every <= 0:
            return {}
        out = {}
        for k, (i, quad) in enumerate(plates):
            mem = self._boxes.get(streams[i])
            if mem is None or not len(mem[0]):
                continue
            boxes, ages = mem
            iou = box_iou(boxes, quad)
            j = int(np.argmax(iou))
            if iou[j] >= self.min_iou and ages[j] + 1 < self.recheck_every:
                out[k] = int(ages[j])
        return out

    def update(self, streams: Sequence | None, plates: Sequence[tuple[int, np.ndarray]], junk: Sequence[bool],
               skipped: dict[int, int]) -> None:
        """After a batch: each stream in it remembers its frame's junk boxes (`junk[k]`: plate k's
        final read is not reportable); a box read once only (in `skipped`, with its age) ages by a
        frame, one looked at in full starts again at 0. A stream's boxes not seen again are
        forgotten."""
        if not streams or self.recheck_every <= 0:
            return
        new: dict[object, list[tuple[np.ndarray, int]]] = {s: [] for s in streams}
        for k, (i, quad) in enumerate(plates):
            if junk[k]:
                new[streams[i]].append((np.asarray(quad, np.float32), skipped[k] + 1 if k in skipped else 0))
        for stream, items in new.items():
            items = items[:MAX_BOXES]
            self._boxes[stream] = (np.array([b for b, _ in items], np.float32).reshape(-1, 4, 2),
                                   np.array([a for _, a in items], np.int64))
