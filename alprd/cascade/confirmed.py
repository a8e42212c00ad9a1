"""Places where a camera's plate was just read confidently: the extra looks there every other frame.

A doubtful read gets every extra look the cascade has (wider warps, the closer look at small
plates, the smear undone, the two-row pass): on the distant-cars benchmark those are half of
RSNet's reads and a fifth of the CPU. A distant car is doubtful in most of its frames, though,
and once one full look at it gave a reportable read, the tracker holds a confident vote for it:
the next frame's extra looks mostly repeat what it knows. So, per stream (camera), a plate whose
final read after the extra looks was reportable leaves its place; in the stream's next frame a
plate near that place (its centre within MAX_SHIFT of the remembered plate's width from the
remembered centre, its width within WIDTH_RATIO) is read once only, with its first read as
it comes (reported when that is reportable), and the frame after gets every extra look again. So
a car that keeps being read right gets the extra looks in every other frame, a car read wrong
(not reportable) in every frame. Stills (no stream) are always read in full.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alprd.model.geometry import quad_width

MAX_SHIFT = 1.0          # remembered plate widths a plate may have moved in one frame
WIDTH_RATIO = 1.4        # at most this much wider or narrower than the remembered plate
MAX_PLACES = 64          # remembered per stream


class ConfirmedPlaces:
    """Not thread-safe (one per Recognizer). enabled False turns it off."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self._places: dict[object, np.ndarray] = {}    # stream → K×3 (centre x, centre y, width)

    def skip(self, streams: Sequence | None, plates: Sequence[tuple[int, np.ndarray]]) -> set[int]:
        """Plates (frame index, quad) at a place their frame's stream just read confidently in full:
        their extra looks are skipped this frame."""
        if not streams or not self.enabled:
            return set()
        out = set()
        for k, (i, quad) in enumerate(plates):
            places = self._places.get(streams[i])
            if places is None or not len(places):
                continue
            q = np.asarray(quad, np.float32)
            c, w = q.mean(axis=0), quad_width(q)
            near = np.hypot(places[:, 0] - c[0], places[:, 1] - c[1]) <= MAX_SHIFT * places[:, 2]
            alike = (w <= WIDTH_RATIO * places[:, 2]) & (places[:, 2] <= WIDTH_RATIO * w)
            if (near & alike).any():
                out.add(k)
        return out

    def update(self, streams: Sequence | None, plates: Sequence[tuple[int, np.ndarray]], confident: Sequence[bool],
               skipped: set[int]) -> None:
        """After a batch: each stream in it remembers the places of its plates read in full
        (not in `skipped`) whose final read is reportable (`confident[k]`); a place is kept for
        one frame only, so a skipped plate gets the full look in the next."""
        if not streams or not self.enabled:
            return
        new: dict[object, list[tuple[float, float, float]]] = {s: [] for s in streams}
        for k, (i, quad) in enumerate(plates):
            if confident[k] and k not in skipped:
                q = np.asarray(quad, np.float32)
                c = q.mean(axis=0)
                new[streams[i]].append((float(c[0]), float(c[1]), quad_width(q)))
        for stream, items in new.items():
            self._places[stream] = np.array(items[:MAX_PLACES], np.float32).reshape(-1, 3)
