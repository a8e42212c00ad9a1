"""Two-row plates in the cascade (alprd.model.two_row), the 挂 class and the trailer layout."""
from __future__ import annotations

import numpy as np
import torch

from alprd.model import two_row
from alprd.model.charset import CHARS, NUM_CLASSES, TRAILER_CHAR
from alprd.model.plate_format import best_valid, is_valid_plate
from alprd.model.rsnet import RSNet, fit_head


def _two_row_plate(h: int = 144, w: int = 288) -> np.ndarray:
    """A drawn two-row plate: two wide blocks on top, five tall ones below, yellow background."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (0, 200, 250)
    for x in (int(0.25 * w), int(0.57 * w)):
        img[int(0.07 * h):int(0.33 * h), x:x + int(0.18 * w)] = 20
    for k in range(5):
        x = int((27.5 + 80 * k) / 440 * w)
        img[int(0.43 * h):int(0.9 * h), x:x + int(65 / 440 * w)] = 20
    return img


def test_trailer_layout_and_class():
    assert CHARS[-1] == TRAILER_CHAR and NUM_CLASSES == len(CHARS) + 1
    assert is_valid_plate("粤BBC71挂") and is_valid_plate("粤BCR709")
    assert not is_valid_plate("粤B挂C71A") and not is_valid_plate("粤BBC71A挂")


def test_best_valid_can_end_in_gua():
    t = np.full((18, NUM_CLASSES), -5.0)
    for k, c in enumerate("湘AH575挂"):
        t[2 * k + 1, CHARS.index(c) + 1] = 5.0
    t[::2, 0] = 5.0
    assert best_valid(t)[0] == "湘AH575挂"


def test_old_heads_are_padded_and_read_as_before():
    net = RSNet(num_classes=NUM_CLASSES - 1).eval()
    old = net.state_dict()
    new = RSNet().eval()
    new.load_state_dict(old)
    x = torch.randn(2, 3, 48, 144)
    with torch.no_grad():
        a, b = net(x), new(x)
    assert b.shape[-1] == NUM_CLASSES
    assert torch.allclose(a, b[..., :-1], atol=1e-5)
    assert (b.argmax(-1) != NUM_CLASSES - 1).all()
    assert fit_head(new.state_dict()) is not None and fit_head(new.state_dict())["classifier.2.bias"].shape[0] == NUM_CLASSES


def test_aspect_and_candidates():
    single = np.array([[0, 0], [440, 0], [440, 140], [0, 140]], np.float32)
    double = np.array([[0, 0], [440, 0], [440, 220], [0, 220]], np.float32)
    moto = np.array([[10, 10], [230, 12], [228, 150], [12, 148]], np.float32)
    green = np.array([[0, 0], [480, 0], [480, 110], [0, 110]], np.float32)    # 4.4: too wide
    assert abs(two_row.aspect(single) - 440 / 140) < 1e-3
    assert not two_row.is_candidate(green)
    assert two_row.is_candidate(double) and two_row.is_candidate(moto)
    blue = np.zeros((300, 500, 3), np.uint8)
    blue[:] = (180, 90, 30)
    yellow = np.zeros((300, 500, 3), np.uint8)
    yellow[:] = (0, 200, 250)
    assert not two_row.is_candidate(single, blue) and two_row.is_candidate(single, yellow)


def test_compose_puts_the_rows_side_by_side():
    plate = _two_row_plate()
    y = two_row.row_gap(plate)
    assert 0.33 * 144 <= y <= 0.43 * 144
    out = two_row.compose(plate)
    assert out.shape == (48, 144, 3) and out.dtype == np.uint8
    dark = out.mean(2) < 100
    # the top row's two blocks fill the first TOP_SHARE px, the five tall ones the rest, full height
    assert dark[:, :two_row.TOP_SHARE].any() and dark[:, two_row.TOP_SHARE:].any()
    cols = dark[:, two_row.TOP_SHARE:].any(0)
    runs = np.count_nonzero(np.diff(cols.astype(int)) == 1) + int(cols[0])
    assert runs == 5
    assert dark[8, two_row.TOP_SHARE:].any() and dark[36, two_row.TOP_SHARE:].any()   # full height


def test_warp_reads_the_plate_out_of_a_frame():
    frame = np.full((400, 600, 3), 90, np.uint8)
    plate = _two_row_plate(110, 220)
    frame[100:210, 200:420] = plate
    quad = np.array([[200, 100], [420, 100], [420, 210], [200, 210]], np.float32)
    a = two_row.warp(frame, quad)
    b = two_row.compose(plate)
    assert a.shape == (48, 144, 3)
    assert np.abs(a.astype(int) - b).mean() < 20


def test_pick_and_reread():
    single = ("粤BBC71", (0.5,) * 6)          # 6 characters: no layout
    assert two_row.pick(single, ("粤BBC71挂", (0.9,) * 7)) == (("粤BBC71挂", (0.9,) * 7), True)
    assert two_row.pick(single, ("粤BBC71挂", (0.4,) * 7))[1] is True       # valid beats invalid
    assert two_row.pick(("粤BBC711", (0.9,) * 7), ("粤BBC71挂", (0.8,) * 7))[1] is False
    assert two_row.pick(("粤BBC711", (0.9,) * 7), ("", ()))[1] is False

    frame = np.full((400, 600, 3), 90, np.uint8)
    frame[200:310, 100:320] = (0, 200, 250)                          # a yellow plate
    quads = np.array([[[10, 10], [460, 10], [460, 110], [10, 110]],       # 4.5: single-row only
                      [[100, 270], [320, 270], [320, 310], [100, 310]],   # yellow but 5.5: too wide
                      [[100, 230], [320, 230], [320, 310], [100, 310]]], np.float32)   # 2.75, yellow
    seen = []

    def read_u8(batch):
        seen.append(batch.shape)
        return [("湘AH575挂", (0.99,) * 7)] + [("湘AH575挂", (0.5,) * 7)] * (len(batch) - 1)

    first = [("皖A12345", (0.9,) * 7), ("湘AH5751", (0.6,) * 7), ("湘AH5751", (0.6,) * 7)]
    reads, two, used = two_row.reread([frame], quads, [0, 0, 0], first, read_u8)
    assert seen == [(len(two_row.GROW_UP), 48, 144, 3)]               # only the yellow, narrow quad
    assert reads == first[:2] + [("湘AH575挂", (0.99,) * 7)] and two == [False, False, True]
    assert np.allclose(used[2], quads[2])                             # read best from itself
    grey = np.full((400, 600, 3), 90, np.uint8)
    assert two_row.reread([grey], quads, [0, 0, 0], first, read_u8)[1] == [False] * 3
    assert two_row.reread([grey], quads, [0, 0, 0], first, read_u8, colour=False)[1] == [False, False, True]


def test_grow_up_moves_the_top_edge_only():
    q = np.array([[0, 100], [300, 100], [300, 200], [0, 200]], np.float32)
    g = two_row.grow_up(q, 0.5)
    assert np.allclose(g[:2, 1], 50) and np.allclose(g[2:], q[2:]) and np.allclose(g[:, 0], q[:, 0])
