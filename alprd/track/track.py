"""State of one tracked plate: everything kept is O(1) in the number of reads.

Reads are folded into a vote Ballot as they arrive and only the best read (its corners and crop)
is kept, so a car parked in view for hours costs the same memory as one driving past.
Times are the frames' own timestamps (seconds), never the wall clock, so replays are exact.
"""
from __future__ import annotations

import math

from alprd.events import PlateRead
from alprd.track.vote import Ballot, read_weight

Box = tuple[float, float, float, float]

# How fast the velocity estimate follows new motion (exponential smoothing factor).
_VELOCITY_ALPHA = 0.5
# A young track's direction is where its velocity would take it in this long (Track.motion).
MOTION_HORIZON_S = 0.5
# Motion within ~60 degrees of the camera's "in" direction (or its opposite) counts as in (out).
TRAVEL_MIN_COS = 0.5


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0


def _size(box: Box) -> tuple[float, float]:
    return box[2] - box[0], box[3] - box[1]


class Track:
    """One plate followed across frames of one camera."""

    def __init__(self, track_id: int, read: PlateRead, ts: float, stationary_px: float = 20.0) -> None:
        self.id = track_id
        self.stationary_px = stationary_px
        self.ballot = Ballot()
        self.hits = 0
        self.first_seen = ts
        self.last_seen = ts
        box = read.bbox
        self.first_box: Box = box
        self.last_box: Box = box
        self.velocity = (0.0, 0.0)  # px/s of the box centre, smoothed
        # Stillness: the anchor is where the plate last settled; still_since is when it got there.
        self._anchor = _centre(box)
        self._still_since = ts
        self.longest_still_s = 0.0
        self.best_read: PlateRead | None = None
        self.best_weight = -1.0
        self.last_text = ""
        self.preview_sent = False
        self.misses = 0       # processed frames since this track was last seen
        self.after_gap = False  # frames were skipped since it was last seen
        self.add(read, ts)

    # -- updates -------------------------------------------------------------------------------

    def add(self, read: PlateRead, ts: float) -> None:
        """Fold one matched read in: votes, motion, stillness and best read."""
        box = read.bbox
        if self.hits:
            dt = ts - self.last_seen
            if dt > 0:
                (x0, y0), (x1, y1) = _centre(self.last_box), _centre(box)
                vx, vy = (x1 - x0) / dt, (y1 - y0) / dt
                a = 1.0 if self.hits == 1 else _VELOCITY_ALPHA  # first measurement taken as is
                self.velocity = (a * vx + (1 - a) * self.velocity[0], a * vy + (1 - a) * self.velocity[1])
        self.hits += 1
        self.misses, self.after_gap = 0, False
        self.last_seen = max(self.last_seen, ts)
        self.last_box = box
        self._update_stillness(box, ts)
        w = read_weight(read.det_conf, read.text_conf)
        self.ballot.add(read.text, w, read.char_confs)
        if read.text:
            self.last_text = read.text
        if read.text and w > self.best_weight:
            self.best_weight = w
            self.best_read = read

    def _update_stillness(self, box: Box, ts: float) -> None:
        cx, cy = _centre(box)
        if math.hypot(cx - self._anchor[0], cy - self._anchor[1]) >= self.stationary_px:
            self._anchor = (cx, cy)
            self._still_since = ts
        else:
            self.longest_still_s = max(self.longest_still_s, ts - self._still_since)

    # -- queries -------------------------------------------------------------------------------

    def reads_as(self, text: str) -> bool:
        """Whether `text` is this track's latest or best read."""
        best = self.best_read.text if self.best_read is not None else None
        return bool(text) and text in (self.last_text, best)

    def predicted_box(self, ts: float) -> Box:
        """Last box moved by the smoothed velocity, so fast plates still overlap at low fps."""
        dt = max(ts - self.last_seen, 0.0)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        b = self.last_box
        return b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy

    def is_parked(self, parked_after_s: float) -> bool:
        """Stayed within stationary_px of one spot for parked_after_s (it may have driven in first)."""
        return self.longest_still_s >= parked_after_s

    def motion(self) -> tuple[float, float] | None:
        """How the plate moves in the image, or None when it stands still.

        The displacement from the first to the last centre once it reaches stationary_px; before
        that (a young track: a preview comes at min_hits reads, a frame or two after the first),
        the smoothed velocity over MOTION_HORIZON_S, so a moving plate is not called stationary
        just because it has not yet had time to move far. Still = neither reaches stationary_px.
        """
        (x0, y0), (x1, y1) = _centre(self.first_box), _centre(self.last_box)
        dx, dy = x1 - x0, y1 - y0
        if math.hypot(dx, dy) >= self.stationary_px:
            return dx, dy
        vx, vy = self.velocity[0] * MOTION_HORIZON_S, self.velocity[1] * MOTION_HORIZON_S
        if self.hits > 1 and math.hypot(vx, vy) >= max(self.stationary_px, 1e-9):
            return vx, vy
        return None

    def direction(self) -> str:
        """Image motion (motion()): right/left/down/up by the larger axis, or stationary."""
        m = self.motion()
        if m is None:
            return "stationary"
        dx, dy = m
        if abs(dx) >= abs(dy):
            return "right" if dx > 0 else "left"
        return "down" if dy > 0 else "up"

    def travel(self, inward: tuple[float, float] | None) -> str:
        """in / out against the camera's unit "in" vector, unknown when there is none, the plate
        stands still, or it moves mostly across that direction (|cos| < TRAVEL_MIN_COS)."""
        m = self.motion()
        if inward is None or m is None:
            return "unknown"
        cos = (m[0] * inward[0] + m[1] * inward[1]) / (math.hypot(*m) * math.hypot(*inward))
        if abs(cos) < TRAVEL_MIN_COS:
            return "unknown"
        return "in" if cos > 0 else "out"

    @property
    def first_size(self) -> tuple[float, float]:
        return _size(self.first_box)

    @property
    def last_size(self) -> tuple[float, float]:
        return _size(self.last_box)
