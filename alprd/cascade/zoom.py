"""The second look: DSNet again on full-resolution tiles of a large frame, for distant plates.

A 1080p frame letterboxed into the 512-px view shrinks 3.75×: a distant plate 30-45 px wide
becomes 8-12 px, under one cell of DSNet's stride-16 grid, and is never found. DSNet finds the same
plates at the frame's own resolution (CCPD dev plates shrunk to 25-45 px in a 1080p frame: 86 of
95 found in a 576×320 full-resolution tile, 95 of 95 in a window magnified 2×), but a whole 1080p
frame at full resolution costs ~14 first passes. What was measured and rejected (CCPD dev, the
`ccpd_far` stress set): a second look only where the first pass's score map had its strongest weak
maxima (4 windows per frame: 19 % found, 8 windows: 31 %: a plate under one cell leaves no
reliable trace), and a colour proposal (blue/yellow/green blobs: half the plates, 70 proposals a
frame).

So the look is spread over time, as a camera gives it time:
- **tiles**: the frame is covered by overlapping full-resolution tiles (576×288, overlapping
  ≥ 96 px across and ≥ 48 px down, so a plate up to ~96 px wide lies whole in one); each call
  looks at the next
  ``tiles_per_frame`` of them per stream (a 1080p camera: 20 tiles, each looked at every 2 s at
  10 fps). Which ones: the tiles that changed most since their own last look come first (a car
  that drives in is looked at in its first frame, not when its tile's turn comes), then the ones
  never looked at; a tile unchanged since its last look is looked at again only once DUE_CYCLES
  turns have passed (the same pixels would give the same boxes), and such an overdue tile goes
  first, so a busy tile (a road, a tree) cannot starve the rest. The change is counted on a grey
  thumbnail of the frame (1/THUMB of its size each way), pixels that moved by CHANGED_LEVEL grey
  levels or more. A still scene costs a tile a frame for its first turn, then a third of that.
  Frames given without a stream (Recognizer.recognize(frames) with no
  ``streams``: `alprd recognize`, the evaluation) are stills: every tile is looked at at once.
- **follow**: a plate found in a tile is looked at again in the next frames of its stream through
  a small window magnified FOLLOW_SCALE× around where it was last found, until it has not been
  found for ``follow_frames`` frames: a distant car found once is read on every frame after.

Frames whose long side is under ``min_long_side`` (500 px) get no second look: the first pass
enlarges or barely shrinks them. Larger ones are looked at in tiles at full resolution, or
magnified ``min_gain`` (1.6×) over what the first pass saw where that is more (a 640-px frame:
1.28×). Chosen on dev (docs/performance.md): a 1024-px photo's 40-80-px plates fall to 20-40 px
in the first pass's view (the `ccpd_photo` stress set: 70.5 → 95.8 % with the look from 800 px
instead of 1200), a 640×480 frame's 28-48-px ones to 22-38 px (`ccpd_vga`: 67.4 → 81.1 % from
500 px with the gain; on an earlier draw of it, gains 1.3 / 1.6 / 2 (tiles at 1.04 / 1.28 / 1.6×)
read 85.3 / 89.5 / 89.5 %, 2 at 1.7× the cost of 1.6); every other dev set read the same, CCPD's
720×1160 stills included.

A find at least FIRST_PASS_WIDTH px wide in the first pass's view is dropped (the first pass finds
those: the second look's version is a duplicate or a part of something large read as a plate), as
is one overlapping a plate the first pass found (the first pass's box stands: a tile's part of a
larger plate, boxed tighter and scored higher, replaced it in NMS and was read as junk: 6 of CCPD
dev's 95 plates in a 1080p frame lost that way before).
Warp, read, reread and the report filter are unchanged.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from alprd.model import geometry
from alprd.model.defaults import ZOOM_TILES_PER_FRAME

ALL = -1                      # tiles_per_frame: every tile of the frame (still images)
EDGE = 3                      # a quad this close to a window's cut edge is a cut plate: dropped
FOLLOW_MAX_WIDTH = 0.75       # followed plates are at most this fraction of the follow window wide
# A plate at least this wide in the first pass's view is the first pass's to find: a wider find of
# the second look is a duplicate, or a part of something large (a grille, a sign) read as a plate.
FIRST_PASS_WIDTH = 32.0
THUMB = 8                     # frame pixels per thumbnail pixel, each way (change ordering)
CHANGED_LEVEL = 16            # grey levels a thumbnail pixel must move by to count as changed
MIN_CHANGED = 4               # changed thumbnail pixels that make a tile "changed" (~32×16 frame px)
DUE_CYCLES = 3                # a tile is looked at at least once every this many full turns


@dataclass(frozen=True)
class ZoomPolicy:
    """How the second look runs. tiles_per_frame 0 turns it off."""

    # per stream and frame; a fraction looks at one tile every so many frames (0.5: every other);
    # ALL: every tile (stills)
    tiles_per_frame: float = ZOOM_TILES_PER_FRAME
    tile_view: tuple[int, int] = (576, 288)  # a tile's DSNet view, width × height (multiples of 32)
    tile_scale: float = 1.0                # view pixels per frame pixel in a tile
    # frame pixels two neighbouring tiles share, across and down: a plate this wide (this tall)
    # lies whole in one of them (plates are about 3× wider than tall)
    min_overlap: tuple[int, int] = (96, 48)
    follow_view: tuple[int, int] = (256, 128)
    follow_scale: float = 2.0
    follow_frames: int = 10                # frames a followed plate may go unseen
    max_follow: int = 4                    # followed plates per stream
    by_change: bool = True                 # a stream's changed tiles first (else plain turn)
    min_long_side: int = 500               # smaller frames get no second look
    # a tile magnifies the frame at least this much more than the first pass's view did (frames
    # the first pass barely shrinks are looked at magnified; 0 = tile_scale always)
    min_gain: float = 1.6

    def __post_init__(self):
        for v in (self.tile_view, self.follow_view):
            if v[0] % 32 or v[1] % 32:
                raise ValueError(f"zoom views' sides must be multiples of 32, got {v}")
        if self.tiles_per_frame < ALL:
            raise ValueError(f"tiles_per_frame must be >= 0 or ALL (-1), got {self.tiles_per_frame}")

    @property
    def enabled(self) -> bool:
        return self.tiles_per_frame != 0



def _starts(length: int, span: float, overlap: int) -> list[float]:
    if length <= span:
        return [0.0]
    n = math.ceil((length - overlap) / (span - overlap))
    step = (length - span) / (n - 1) if n > 1 else 0.0
    return [k * step for k in range(n)]


def tile_scale(policy: ZoomPolicy, first_scale: float | None) -> float:
    """View pixels per frame pixel in a frame's tiles: the policy's, or min_gain times the first
    pass's scale (view px per frame px) where that is more."""
    if first_scale is None:
        return policy.tile_scale
    return max(policy.tile_scale, policy.min_gain * first_scale)


def tile_origins(width: int, height: int, policy: ZoomPolicy, scale: float | None = None) -> list[tuple[float, float]]:
    """Top-left frame pixels of the tiles covering a width × height frame at `scale` (the
    policy's tile_scale by default), row by row."""
    scale = policy.tile_scale if scale is None else scale
    fw, fh = policy.tile_view[0] / scale, policy.tile_view[1] / scale
    xs = [float(round(x)) for x in _starts(width, fw, policy.min_overlap[0])]   # whole pixels: a 1× tile
    ys = [float(round(y)) for y in _starts(height, fh, policy.min_overlap[1])]  # is a copy, not a resample
    return [(x, y) for y in ys for x in xs]


def cut(frame: np.ndarray, origin: tuple[float, float], scale: float, view: tuple[int, int], dst: np.ndarray) -> None:
    """The frame region at `origin`, magnified `scale`×, written into dst (view H×W×3 uint8)."""
    m = np.array([[scale, 0, -origin[0] * scale], [0, scale, -origin[1] * scale]], np.float32)
    if scale == 1.0 and float(origin[0]).is_integer() and float(origin[1]).is_integer():
        x0, y0 = int(origin[0]), int(origin[1])
        part = frame[y0:y0 + view[1], x0:x0 + view[0]]
        if part.shape[:2] == (view[1], view[0]):
            np.copyto(dst, part)
            return
    cv2.warpAffine(frame, m, view, dst=dst, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                   borderValue=(geometry.PAD_VALUE,) * 3)


def inside(corners: np.ndarray, view: tuple[int, int], frame_shape, origin, scale: float) -> np.ndarray:
    """Mask of the quads (K×4×2 view px) that do not touch an edge of the window where the window
    cuts the frame (a plate cut there is whole in a neighbouring tile or in the first pass; its
    cut half would be read as junk). The frame's own edges are not cuts."""
    c = np.asarray(corners, np.float32).reshape(-1, 4, 2)
    if not len(c):
        return np.zeros((0,), bool)
    w, h = view
    fh, fw = frame_shape[:2]
    lo, hi = c.min(axis=1), c.max(axis=1)
    ok = np.ones(len(c), bool)
    if origin[0] > 0:
        ok &= lo[:, 0] > EDGE
    if origin[1] > 0:
        ok &= lo[:, 1] > EDGE
    if origin[0] + w / scale < fw:
        ok &= hi[:, 0] < w - EDGE
    if origin[1] + h / scale < fh:
        ok &= hi[:, 1] < h - EDGE
    return ok


def apart(quads: np.ndarray, firsts: np.ndarray, max_cover: float = 0.2) -> np.ndarray:
    """Mask of the second look's quads (K×4×2) whose bounding box shares at most `max_cover` of
    the smaller box with every first-pass quad's (M×4×2). The second look is for plates the first
    pass did not see: where the first pass found a plate, its box stands, and a tile's part of that
    plate (a tighter but cut box, often scored higher) must not replace it in NMS."""
    q = np.asarray(quads, np.float32).reshape(-1, 4, 2)
    f = np.asarray(firsts, np.float32).reshape(-1, 4, 2)
    if not len(q) or not len(f):
        return np.ones(len(q), bool)
    qa, qb, fa, fb = q.min(1), q.max(1), f.min(1), f.max(1)
    lo = np.maximum(qa[:, None], fa[None])
    hi = np.minimum(qb[:, None], fb[None])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    area = lambda a, b: np.clip(b - a, 1e-6, None).prod(-1)  # noqa: E731
    smaller = np.minimum(area(qa, qb)[:, None], area(fa, fb)[None])
    return (inter / smaller <= max_cover).all(axis=1)


@dataclass
class _Follow:
    centre: tuple[float, float]
    unseen: int = 0


@dataclass
class _Stream:
    next_tile: int = 0
    credit: float = 0.0          # tiles owed to this stream (tiles_per_frame added each frame)
    follows: list[_Follow] = field(default_factory=list)
    # change ordering: per tile its thumbnail patch at its last look (or at the stream's first
    # frame) and the frames since; reset when the frame size changes
    shape: tuple[int, int] = (0, 0)
    refs: list[np.ndarray] = field(default_factory=list)
    ages: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    looked: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A grey 1/THUMB-size copy of a BGR frame: cheap (a sampling resize, ~0.1 ms for 1080p), and
    blocky enough that a car's arrival moves many of its pixels while a camera's noise does not."""
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (max(1, w // THUMB), max(1, h // THUMB)), interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small


def tile_order(st: _Stream, thumb: np.ndarray, tiles: Sequence[tuple[float, float]], view: tuple[float, float],
               per_frame: int) -> list[int]:
    """Tile indices worth a look, the one to look at first first: overdue tiles (not looked at for
    DUE_CYCLES turns), then changed tiles by how much changed since their last look, then
    never-looked tiles in order. A tile unchanged since its last look is left out until it is
    overdue: DSNet would see what it saw then. Ages every tile by a frame."""
    boxes = [_thumb_box(t, view) for t in tiles]
    if st.shape != thumb.shape or len(st.refs) != len(tiles):
        st.shape = thumb.shape
        st.refs = [thumb[y0:y1, x0:x1].copy() for x0, y0, x1, y1 in boxes]
        st.ages = np.zeros(len(tiles), np.int64)
        st.looked = np.zeros(len(tiles), bool)
    st.ages += 1
    due = DUE_CYCLES * math.ceil(len(tiles) / max(per_frame, 1))
    keys = []
    for k, (x0, y0, x1, y1) in enumerate(boxes):
        moved = int(np.count_nonzero(cv2.absdiff(thumb[y0:y1, x0:x1], st.refs[k]) >= CHANGED_LEVEL))
        if st.ages[k] >= due:
            keys.append((0, -int(st.ages[k]), k))
        elif moved >= MIN_CHANGED:
            keys.append((1, -moved, k))
        elif not st.looked[k]:
            keys.append((2, k, k))
    return [k for *_, k in sorted(keys)]


def mark_looked(st: _Stream, thumb: np.ndarray, tiles: Sequence[tuple[float, float]], view: tuple[float, float],
                picked: Sequence[int]) -> None:
    """The picked tiles are looked at now: their change counts from this frame."""
    for k in picked:
        x0, y0, x1, y1 = _thumb_box(tiles[k], view)
        st.refs[k] = thumb[y0:y1, x0:x1].copy()
        st.ages[k] = 0
        st.looked[k] = True


def _thumb_box(origin: tuple[float, float], view: tuple[float, float]) -> tuple[int, int, int, int]:
    """A tile's (x0, y0, x1, y1) in thumbnail pixels."""
    x, y = origin
    return int(x) // THUMB, int(y) // THUMB, int(x + view[0]) // THUMB, int(y + view[1]) // THUMB


@dataclass(frozen=True)
class _Job:
    frame: int
    origin: tuple[float, float]
    follow: bool
    scale: float                 # view pixels per frame pixel


class SecondLook:
    """Plans and runs the second look for a batch of frames, keeping per stream which tile is next
    and which plates are followed. Not thread-safe (like the Recognizer that owns it)."""

    def __init__(self, policy: ZoomPolicy):
        self.policy = policy
        self._streams: dict[Hashable, _Stream] = {}
        self._bufs: dict[tuple[int, int], np.ndarray] = {}
        self.looks = 0                 # windows and tiles looked at since creation
        self.tiles = 0                 # of them tiles

    def reset(self) -> None:
        self._streams.clear()

    def _plan(self, frames: Sequence[np.ndarray], streams: Sequence[Hashable] | None,
              first_scales: Sequence[float] | None) -> list[_Job]:
        p = self.policy
        jobs = []
        for i, frame in enumerate(frames):
            h, w = frame.shape[:2]
            if max(h, w) < p.min_long_side:
                continue
            scale = tile_scale(p, first_scales[i] if first_scales is not None else None)
            tiles = tile_origins(w, h, p, scale)
            if streams is None:                  # a still: every tile now, nothing to follow
                jobs += [_Job(i, t, False, scale) for t in tiles]
                continue
            st = self._streams.setdefault(streams[i], _Stream())
            fw, fh = p.follow_view[0] / p.follow_scale, p.follow_view[1] / p.follow_scale
            for f in st.follows:
                x0 = min(max(f.centre[0] - fw / 2, 0.0), max(w - fw, 0.0))
                y0 = min(max(f.centre[1] - fh / 2, 0.0), max(h - fh, 0.0))
                jobs.append(_Job(i, (x0, y0), True, p.follow_scale))
            if p.tiles_per_frame == ALL:
                n = len(tiles)
            else:
                st.credit += p.tiles_per_frame
                n = min(int(st.credit), len(tiles))
                st.credit = min(st.credit - n, 1.0)
            if not n:
                continue
            if p.by_change and n < len(tiles):
                view = (p.tile_view[0] / scale, p.tile_view[1] / scale)
                thumb = thumbnail(frame)
                picked = tile_order(st, thumb, tiles, view, n)[:n]
                mark_looked(st, thumb, tiles, view, picked)
            else:
                picked = [(st.next_tile + k) % len(tiles) for k in range(n)]
                st.next_tile = (st.next_tile + n) % len(tiles)
            jobs += [_Job(i, tiles[k], False, scale) for k in picked]
        return jobs

    def __call__(self, detect_u8, decode, frames: Sequence[np.ndarray], streams: Sequence[Hashable] | None = None,
                 first_scales: Sequence[float] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """detect_u8: uint8 N×H×W×3 views → DSNet maps; decode: maps → per view (corners view px,
        scores); first_scales: each frame's first-pass view scale (view px per frame px). Returns
        per frame (corners K×4×2 in frame pixels, scores K) found by the look and too small for
        the first pass (under FIRST_PASS_WIDTH view px), before NMS."""
        p = self.policy
        empty = (np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32))
        if not p.enabled:
            return [empty] * len(frames)
        streams = list(streams) if streams is not None else None
        jobs = self._plan(frames, streams, first_scales)
        found: list[list] = [[] for _ in frames]
        seen: dict[int, list[tuple[float, float]]] = {}
        for follow in (True, False):
            part = [j for j in jobs if j.follow == follow]
            if not part:
                continue
            view = p.follow_view if follow else p.tile_view
            batch = self._batch(view, len(part))
            for k, j in enumerate(part):
                cut(frames[j.frame], j.origin, j.scale, view, batch[k])
            self.looks += len(part)
            self.tiles += 0 if follow else len(part)
            for j, (c, s) in zip(part, decode(detect_u8(batch))):
                keep = inside(c, view, frames[j.frame].shape, j.origin, j.scale)
                if first_scales is not None:
                    width = np.linalg.norm(np.asarray(c)[:, 1] - np.asarray(c)[:, 0], axis=1) / j.scale
                    keep &= width * first_scales[j.frame] < FIRST_PASS_WIDTH
                if not keep.any():
                    continue
                c, s = np.asarray(c, np.float32)[keep] / j.scale, s[keep]
                c[..., 0] += j.origin[0]
                c[..., 1] += j.origin[1]
                found[j.frame].append((c, np.asarray(s, np.float32)))
                small = p.follow_view[0] / p.follow_scale * FOLLOW_MAX_WIDTH
                seen.setdefault(j.frame, []).extend(tuple(map(float, q.mean(axis=0))) for q in c
                                                    if np.linalg.norm(q[1] - q[0]) <= small)
        if streams is not None:
            self._update(frames, streams, seen)
        return [(np.concatenate([c for c, _ in f]), np.concatenate([s for _, s in f])) if f else empty
                for f in found]

    def _batch(self, view: tuple[int, int], n: int) -> np.ndarray:
        buf = self._bufs.get(view)
        if buf is None or len(buf) < n:
            buf = self._bufs[view] = np.empty((max(n, 2 * (0 if buf is None else len(buf)), 4), view[1], view[0], 3),
                                              np.uint8)
        return buf[:n]

    def _update(self, frames, streams, seen: dict[int, list[tuple[float, float]]]) -> None:
        """Follow what was found (nearest follow moves to it, else a new one); age the rest."""
        p = self.policy
        if p.follow_frames <= 0:
            return
        near = p.follow_view[0] / p.follow_scale / 2
        for i, key in enumerate(streams):
            st = self._streams.get(key)
            if st is None:
                continue
            hits = seen.get(i, [])
            moved = set()
            for c in hits:
                best = min(range(len(st.follows)), default=None,
                           key=lambda k: math.dist(st.follows[k].centre, c))
                if best is not None and math.dist(st.follows[best].centre, c) < near:
                    st.follows[best].centre, st.follows[best].unseen = c, 0
                    moved.add(best)
                elif len(st.follows) < p.max_follow:
                    st.follows.append(_Follow(c))
                    moved.add(len(st.follows) - 1)
            for k, f in enumerate(st.follows):
                if k not in moved:
                    f.unseen += 1
            st.follows = [f for f in st.follows if f.unseen <= p.follow_frames]
