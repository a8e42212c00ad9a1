"""The second look (alprd.cascade.zoom): distant plates in large frames, found on full-resolution
tiles (all of them for a still, in turn for a stream) and followed once found."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from alprd.cascade import Recognizer
from alprd.cascade.zoom import ALL, SecondLook, ZoomPolicy, inside, tile_origins, tile_scale
from alprd.cli.recognize import sample_image

PLATE = "粤LQ092V"                       # the bundled sample's plate, 108 px wide in it
SAMPLE_TL = np.array([202.1, 381.6])     # its top-left corner in the sample
SAMPLE_WIDTH = 108.3


def distant_frame(width_px: float = 40.0, at=(1300, 600), size=(1920, 1080)):
    """A frame (1920×1080 by default) with the bundled sample shrunk until its plate is `width_px`
    wide (a car far away), on a plain grey road → (frame, the plate's top-left corner in it)."""
    img = cv2.imread(str(sample_image()))
    f = width_px / SAMPLE_WIDTH
    small = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    frame = np.full((size[1], size[0], 3), 90, np.uint8)
    x0, y0 = at
    frame[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    return frame, SAMPLE_TL * f + np.array(at)


def near(reads, tl, tol=8.0):
    return [r for r in reads if np.abs(np.array(r.corners[0]) - tl).max() < tol]


@pytest.fixture(scope="module")
def recognizers():
    off = Recognizer(threads=1, device="cpu", zoom=ZoomPolicy(tiles_per_frame=0))
    still = Recognizer(threads=1, device="cpu", zoom=ZoomPolicy())
    return off, still


def test_a_distant_plate_is_found_by_the_second_look_and_missed_without_it(recognizers):
    off, still = recognizers
    frame, tl = distant_frame(40.0)
    assert not near(off.recognize([frame])[0], tl)          # 40 px → 11 px in the 512 view: unseen
    found = near(still.recognize([frame])[0], tl)
    assert [r.text for r in found] == [PLATE]


def test_a_stream_looks_at_one_tile_a_frame_then_follows_the_plate(recognizers):
    off, _ = recognizers
    rec = Recognizer(threads=1, device="cpu", zoom=ZoomPolicy(tiles_per_frame=1, follow_frames=3))
    frame, tl = distant_frame(40.0)
    n_tiles = len(tile_origins(1920, 1080, rec.look.policy))
    hits = [bool(near(rec.recognize([frame], streams=["cam1"])[0], tl)) for _ in range(n_tiles + 5)]
    first = hits.index(True)                        # its tile's turn came
    assert first < n_tiles
    assert all(hits[first:])                        # then followed on every frame
    # another camera keeps its own turn: its first frame looks at its first tile, not cam1's next
    other = Recognizer(threads=1, device="cpu", zoom=ZoomPolicy(tiles_per_frame=1))
    seen_other = [bool(near(other.recognize([frame], streams=["cam2"])[0], tl)) for _ in range(first + 1)]
    assert seen_other.index(True) == first


def test_tiles_magnify_a_frame_the_first_pass_barely_shrinks_and_tiny_frames_get_none():
    look = SecondLook(ZoomPolicy(tiles_per_frame=ALL))
    p = look.policy
    views = []
    detect = lambda b: views.append(b.shape) or np.zeros((len(b), 12, 1, 1), np.float32)  # noqa: E731
    decode = lambda maps: [(np.zeros((0, 4, 2)), np.zeros(0))] * len(maps)                # noqa: E731
    for (h, w), tiles in (((400, 300), 0),                                   # under min_long_side
                          ((480, 640), len(tile_origins(640, 480, p, 1.6 * 512 / 640))),
                          ((1160, 720), len(tile_origins(720, 1160, p, 1.0)))):
        views.clear()
        first = 512 / max(h, w)
        out = look(detect, decode, [np.zeros((h, w, 3), np.uint8)], first_scales=[first])
        assert len(out[0][1]) == 0
        assert sum(v[0] for v in views) == tiles
    assert tile_scale(p, 512 / 640) == pytest.approx(1.28)   # 640 px: 1.6× what the first pass saw
    assert tile_scale(p, 512 / 1160) == 1.0                  # CCPD's stills: full resolution
    assert tile_scale(p, None) == p.tile_scale
    assert len(tile_origins(640, 480, p, 1.28)) > 1


def test_a_small_plate_in_a_vga_frame_is_found_by_the_second_look(recognizers):
    """640×480 (under the 800 px the second look began at before): the first pass shrinks it to
    0.8 and misses a 30-px plate (24 px in its view); the tiles, magnified 1.28×, find it. Reading
    it exactly is the reader's limit at this size (the province is lost), so the test asks for the
    box and the plate's letters after the province."""
    off, still = recognizers
    frame, tl = distant_frame(30.0, (350, 150), (640, 480))
    assert not near(off.recognize([frame])[0], tl, tol=5)
    found = near(still.recognize([frame])[0], tl, tol=5)
    assert len(found) == 1 and found[0].text[1:5] == PLATE[1:5]


def test_a_small_plate_in_a_street_photo_is_found_by_the_second_look(recognizers):
    """A 1024×768 photo shrinks 2× into the 512 view: its 35-px plate becomes 17 px, which the
    first pass misses; the full-resolution tiles find and read it."""
    off, still = recognizers
    photo, tl = distant_frame(35.0, (600, 300), (1024, 768))
    assert not near(off.recognize([photo])[0], tl)
    assert [r.text for r in near(still.recognize([photo])[0], tl)] == [PLATE]


def test_tiles_cover_the_frame_with_overlap():
    p = ZoomPolicy()
    tiles = tile_origins(1920, 1080, p)
    w, h = p.tile_view
    xs = sorted({x for x, _ in tiles})
    ys = sorted({y for _, y in tiles})
    assert xs[0] == 0 and xs[-1] + w == 1920 and ys[0] == 0 and ys[-1] + h == 1080
    assert all(b - a <= w - p.min_overlap[0] for a, b in zip(xs, xs[1:]))
    assert all(b - a <= h - p.min_overlap[1] for a, b in zip(ys, ys[1:]))


def test_a_plate_cut_by_a_tile_edge_is_dropped_but_not_at_the_frame_edge():
    quad = np.array([[[0, 50], [60, 50], [60, 70], [0, 70]]], np.float32)   # touches the left edge
    assert not inside(quad, (576, 320), (1080, 1920), (400.0, 0.0), 1.0)[0]   # a cut inside the frame
    assert inside(quad, (576, 320), (1080, 1920), (0.0, 0.0), 1.0)[0]         # the frame's own edge


def test_a_second_look_find_over_a_first_pass_plate_does_not_replace_it():
    """A tile sees part of a plate the first pass found (a tighter, cut box, often scored higher):
    the first pass's box stands; a find elsewhere is kept."""
    from alprd.cascade.zoom import apart

    first = np.array([[[100, 100], [250, 100], [250, 150], [100, 150]]], np.float32)
    part = np.array([[[150, 105], [245, 105], [245, 145], [150, 145]]], np.float32)
    far = np.array([[[600, 300], [640, 300], [640, 312], [600, 312]]], np.float32)
    assert apart(np.concatenate([part, far]), first).tolist() == [False, True]
    assert apart(far, np.zeros((0, 4, 2), np.float32)).tolist() == [True]


def _looked_tiles(look: SecondLook, frames, stream="cam"):
    """Runs the look on each frame of a stream with a DSNet that finds nothing → per frame the
    indices of the tiles it was given (known by their pixels: each tile is filled with its index)."""
    out = []
    for frame in frames:
        got = []
        look(lambda b: got.extend(int(v) for v in b[:, 5, 5, 1]) or np.zeros((len(b), 12, 1, 1), np.float32),
             lambda maps: [(np.zeros((0, 4, 2)), np.zeros(0))] * len(maps), [frame], [stream])
        out.append(got)
    return out


def _scene(tiles, policy, lit=()):
    """A 1080p frame whose tiles' top-left 16×16 px hold the tile's index (in the green channel),
    and a 96×48 white patch (a car) in each tile of `lit`, away from the others' markers."""
    frame = np.zeros((1080, 1920, 3), np.uint8)
    for k, (x, y) in enumerate(tiles):
        frame[int(y):int(y) + 16, int(x):int(x) + 16, 1] = k
    for k in lit:
        x, y = tiles[k]
        frame[int(y) + 120:int(y) + 168, int(x) + 240:int(x) + 336] = 255
    return frame


def test_a_tile_where_something_moves_is_looked_at_in_that_frame_not_when_its_turn_comes():
    p = ZoomPolicy(tiles_per_frame=1)
    tiles = tile_origins(1920, 1080, p)
    still = _scene(tiles, p)
    car = _scene(tiles, p, lit=[15])
    by_change = _looked_tiles(SecondLook(p), [still, still, car, car])
    in_turn = _looked_tiles(SecondLook(ZoomPolicy(tiles_per_frame=1, by_change=False)), [still, still, car, car])
    assert by_change[:2] == in_turn[:2] == [[0], [1]]    # a still scene: plain turn
    assert by_change[2] == [15] and in_turn[2] == [2]    # the car's tile at once
    assert by_change[3] == [2]                            # then the turn goes on where it was


def test_a_tile_that_changes_all_the_time_does_not_starve_the_others():
    from alprd.cascade.zoom import DUE_CYCLES

    p = ZoomPolicy(tiles_per_frame=1)
    tiles = tile_origins(1920, 1080, p)
    flicker = [_scene(tiles, p, lit=[7] if n % 2 else []) for n in range(DUE_CYCLES * len(tiles) + len(tiles))]
    looked = [k for ks in _looked_tiles(SecondLook(p), flicker) for k in ks]
    assert looked.count(7) > len(looked) // 3            # the busy tile gets most looks...
    assert set(looked) == set(range(len(tiles)))          # ...but every tile gets its look
    gaps = [b - a for k in range(len(tiles)) for a, b in zip(
        [i for i, v in enumerate(looked) if v == k], [i for i, v in enumerate(looked) if v == k][1:])]
    assert max(gaps) <= (DUE_CYCLES + 1) * len(tiles)   # overdue tiles queue one a frame


def test_a_still_scene_is_looked_at_once_then_only_when_its_tiles_are_overdue():
    from alprd.cascade.zoom import DUE_CYCLES

    p = ZoomPolicy(tiles_per_frame=1)
    tiles = tile_origins(1920, 1080, p)
    n = len(tiles)
    looked = _looked_tiles(SecondLook(p), [_scene(tiles, p)] * (DUE_CYCLES * n + n))
    assert looked[:n] == [[k] for k in range(n)]                  # the first turn: every tile
    assert not any(looked[n:DUE_CYCLES * n])                       # unchanged: nothing to look at
    assert looked[DUE_CYCLES * n:] == [[k] for k in range(n)]     # then each tile again, overdue


def test_a_fraction_of_a_tile_per_frame_spreads_the_looks_over_frames():
    tiles = tile_origins(1920, 1080, ZoomPolicy())
    still = _scene(tiles, ZoomPolicy())
    half = _looked_tiles(SecondLook(ZoomPolicy(tiles_per_frame=0.5, by_change=False)), [still] * 6)
    assert half == [[], [0], [], [1], [], [2]]            # a tile every other frame, in turn
    more = _looked_tiles(SecondLook(ZoomPolicy(tiles_per_frame=1.5, by_change=False)), [still] * 4)
    assert [len(ks) for ks in more] == [1, 2, 1, 2] and sum(more, []) == list(range(6))
    other = SecondLook(ZoomPolicy(tiles_per_frame=0.5, by_change=False))
    assert _looked_tiles(other, [still] * 2, "a") + _looked_tiles(other, [still] * 2, "b") == [[], [0], [], [0]]
