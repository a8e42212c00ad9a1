from __future__ import annotations

import cv2
import numpy as np
import pytest

from alprd.model.charset import encode
from pipelines.data.ccpd import load_ccpd_split
from pipelines.synth.scenes import background_scene, ccpd_swap_scene, parking_scene, place_plates


def _mask(quad, shape, grow=0):
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(quad).astype(np.int32)], 1)
    if grow > 0:
        m = cv2.dilate(m, np.ones((2 * grow + 1, 2 * grow + 1), np.uint8))
    elif grow < 0:
        m = cv2.erode(m, np.ones((-2 * grow + 1, -2 * grow + 1), np.uint8))
    return m.astype(bool)


def _check_labels(scene, widths=None):
    h, w = scene.image.shape[:2]
    assert scene.image.dtype == np.uint8 and scene.image.ndim == 3
    assert len(scene.plates) == len(scene.kinds) >= 1
    for corners, text in scene.plates:
        assert corners.shape == (4, 2)
        assert (corners >= 0).all() and (corners[:, 0] <= w).all() and (corners[:, 1] <= h).all()
        assert len(text) == (8 if len(text) == 8 else 7)
        encode(text)
        tl, tr, br, bl = corners
        assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]   # clockwise from TL
        if widths:
            assert widths[0] <= np.linalg.norm(tr - tl) <= widths[1]


def test_plates_land_exactly_where_the_corners_say(synth_assets):
    rng = np.random.default_rng(11)
    canvas = np.full((480, 640, 3), 97, np.uint8)
    plates, kinds = place_plates(canvas, 3, (80, 200), rng)
    assert len(plates) >= 2
    changed = np.abs(canvas.astype(int) - 97).sum(axis=2) > 8
    union = np.zeros(changed.shape, bool)
    for quad, text in plates:
        inside = _mask(quad, canvas.shape, grow=-2)
        assert changed[inside].mean() > 0.8, text           # the plate really is inside its quad
        union |= _mask(quad, canvas.shape, grow=4)
    assert not changed[~union].any()                        # and nothing was drawn elsewhere
    for i in range(len(plates)):
        for j in range(i):
            assert not (_mask(plates[i][0], canvas.shape) & _mask(plates[j][0], canvas.shape)).any()


def test_background_scene_deterministic(synth_assets):
    a = background_scene(np.random.default_rng(4), size=(400, 300))
    b = background_scene(np.random.default_rng(4), size=(400, 300))
    assert a.image.shape == (300, 400, 3)
    assert a.image.tobytes() == b.image.tobytes()
    assert [t for _, t in a.plates] == [t for _, t in b.plates]
    _check_labels(a)


@pytest.fixture(scope="module")
def dev_ccpd(shared_data):
    return load_ccpd_split(shared_data, "dev")


def test_ccpd_swap_covers_the_annotated_plate(synth_assets, dev_ccpd):
    s = dev_ccpd[0]
    sc = ccpd_swap_scene(s, np.random.default_rng(2), augment=False)
    _check_labels(sc)
    (quad, text), = sc.plates
    for pt in s.label.corners:                       # the new plate encloses the old one
        assert cv2.pointPolygonTest(quad.reshape(-1, 1, 2), tuple(map(float, pt)), False) >= 0
    again = ccpd_swap_scene(s, np.random.default_rng(2), augment=False)
    assert again.image.tobytes() == sc.image.tobytes() and again.plates[0].text == text


def test_parking_scene(synth_assets, dev_ccpd):
    for seed in (0, 1):
        sc = parking_scene(np.random.default_rng(seed), dev_ccpd, size=(1280, 720))
        assert sc.image.shape == (720, 1280, 3)
        _check_labels(sc, widths=(50, 175))
        for i in range(len(sc.plates)):
            for j in range(i):
                a, b = sc.plates[i].corners, sc.plates[j].corners
                assert a[:, 0].max() < b[:, 0].min() or b[:, 0].max() < a[:, 0].min() \
                    or a[:, 1].max() < b[:, 1].min() or b[:, 1].max() < a[:, 1].min()
