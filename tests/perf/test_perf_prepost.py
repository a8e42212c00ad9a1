import numpy as np
import pytest

from alprd.backends import prepost
from alprd.model import geometry
from alprd.model.charset import NUM_CLASSES
from alprd.model.decode import ctc_greedy_batch


@pytest.mark.parametrize("shape", [(1080, 1920), (512, 512), (300, 500), (720, 1160), (100, 90), (33, 700)])
def test_letterbox_into_batch_equals_geometry_letterbox(shape):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
    b = np.ascontiguousarray(a[:, ::-1])
    lb = prepost.Letterboxer(256)
    batch, boxes = lb([a, b])
    for img, got, box in zip((a, b), batch, boxes):
        want, want_box = geometry.letterbox(img, 256)
        assert np.array_equal(got, want)
        assert box == want_box
    # the buffer is reused (grown only when needed) and padding of a previous frame never leaks
    wide = rng.integers(0, 256, (50, 400, 3), dtype=np.uint8)
    batch2, _ = lb([wide])
    assert np.shares_memory(batch2, batch)
    assert np.array_equal(batch2[0], geometry.letterbox(wide, 256)[0])


def test_letterbox_accepts_a_region_of_interest_view():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    roi = frame[100:600, 200:1100]                    # not contiguous
    batch, boxes = prepost.Letterboxer(128)([roi])
    want, box = geometry.letterbox(np.ascontiguousarray(roi), 128)
    assert np.array_equal(batch[0], want) and boxes[0] == box


def test_decode_batch_equals_decode_map_per_frame():
    rng = np.random.default_rng(2)
    maps = rng.uniform(0, 1, (4, 12, 8, 8)).astype(np.float32)
    maps[2, :4] = 0.0                                   # a frame with nothing
    got = prepost.decode_batch(maps, 0.6)
    assert len(got) == 4 and len(got[2][0]) == 0
    for m, (c, s) in zip(maps, got):
        wc, ws = geometry.decode_map(m, 0.6)
        np.testing.assert_array_equal(c, wc)
        np.testing.assert_array_equal(s, ws)


def _clusters(rng, n_plates, per_plate):
    base = np.array([[0, 0], [80, 0], [80, 25], [0, 25]], np.float32)
    out = [base + rng.uniform(0, 400, (1, 2)) + rng.normal(0, 4, (per_plate, 4, 2)) for _ in range(n_plates)]
    return np.concatenate(out).astype(np.float32)


@pytest.mark.parametrize("n_plates,per_plate", [(1, 1), (1, 12), (3, 20), (40, 25)])
def test_nms_equals_geometry_nms(n_plates, per_plate):
    rng = np.random.default_rng(n_plates * 100 + per_plate)
    for _ in range(10):
        c = _clusters(rng, n_plates, per_plate)
        s = rng.uniform(0, 1, len(c)).astype(np.float32)
        assert prepost.nms_quads(c, s, 0.3) == geometry.nms_quads(c, s, 0.3)


def test_nms_handles_twisted_quads_like_geometry():
    rng = np.random.default_rng(3)
    c = _clusters(rng, 2, 10)
    c[::3] = c[::3][:, [0, 2, 1, 3]]                    # self-intersecting corner order
    s = rng.uniform(0, 1, len(c)).astype(np.float32)
    assert prepost.nms_quads(c, s, 0.3) == geometry.nms_quads(c, s, 0.3)
    assert prepost.nms_quads(c[:0], s[:0]) == []


def test_ctc_decode_equals_ctc_greedy_batch():
    rng = np.random.default_rng(4)
    logits = rng.normal(0, 3, (40, 18, NUM_CLASSES)).astype(np.float32)
    logits[:, :, 0] += rng.normal(1, 3, (40, 18)).astype(np.float32)   # plenty of blanks
    logits[5] = 0.0
    logits[5, :, 0] = 10.0                                               # all blank: ""
    want = ctc_greedy_batch(logits)
    got = prepost.ctc_decode(logits)
    assert [t for t, _ in got] == [t for t, _ in want]
    for (_, a), (_, b) in zip(got, want):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert got[5] == ("", ())
    assert prepost.ctc_decode(np.zeros((0, 18, NUM_CLASSES), np.float32)) == []


def test_warper_equals_warp_plate():
    rng = np.random.default_rng(5)
    frames = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(2)]
    plates = [(0, np.array([[100, 100], [300, 120], [290, 180], [95, 170]], np.float32)),
              (1, np.array([[-10, 300], [200, 310], [210, 400], [-5, 390]], np.float32)),   # off the edge
              (0, np.array([[10, 10], [50, 10], [50, 22], [10, 22]], np.float32))]
    warper = prepost.PlateWarper()
    out = warper(frames, plates)
    assert out.shape == (3, 48, 144, 3)
    for k, (i, c) in enumerate(plates):
        assert np.array_equal(out[k], geometry.warp_plate(frames[i], c))
