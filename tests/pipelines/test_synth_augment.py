from __future__ import annotations

import numpy as np
import pytest

from pipelines.synth import augment as A


@pytest.fixture
def img():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)


def test_photometric_functions_keep_shape_and_are_seeded(img):
    tex = [np.full((200, 200), 128, np.uint8)]
    fns = [lambda i, r: A.stains(i, r, tex), A.gaussian_blur, A.motion_blur, A.noise, A.jpeg,
           lambda i, r: A.photometric(i, r, tex, 1, 1, 1, 1, 1, 1)]
    fns += [lambda i, r, m=m: A.exposure(i, r, m) for m in ("normal", "night", "over", "glare")]
    for f in fns:
        a = f(img, np.random.default_rng(5))
        b = f(img, np.random.default_rng(5))
        assert a.shape == img.shape and a.dtype == np.uint8
        assert a.tobytes() == b.tobytes()
    assert A.exposure(img, np.random.default_rng(1), "night").mean() < img.mean()
    with pytest.raises(ValueError):
        A.exposure(img, np.random.default_rng(1), "sepia")


def test_noise_field_any_size():
    rng = np.random.default_rng(0)
    for h, w in ((5, 7), (1080, 1920), (2500, 300)):
        f = A.noise_field(h, w, rng)
        assert f.shape == (h, w) and f.dtype == np.int8
    assert 12 < A.noise_field(500, 500, rng).astype(np.float32).std() < 20


def test_font_weight_changes_ink():
    m = np.zeros((40, 40), np.float32)
    m[10:30, 18:22] = 1
    sums = {float(A.font_weight(m, np.random.default_rng(s)).sum()) for s in range(30)}
    assert min(sums) < m.sum() < max(sums)


def test_geometry_helpers():
    rng = np.random.default_rng(0)
    q = A.random_quad(100, 30, rng, max_rot_deg=0, max_persp=0)
    np.testing.assert_allclose(q, [[-50, -15], [50, -15], [50, 15], [-50, 15]], atol=1e-4)
    src = np.array([[0, 0], [10, 0], [10, 5], [0, 5]], np.float32)
    h = A.homography(src, src * 2 + 3)
    np.testing.assert_allclose(A.apply_h(h, src), src * 2 + 3, atol=1e-4)
    j = A.jitter_corners(src * 10, rng, 0.05)
    d = np.abs(j - src * 10)
    assert d[:, 0].max() <= 0.05 * 100 + 1e-3 and d[:, 1].max() <= 0.1 * 50 + 1e-3


@pytest.mark.parametrize("width", [100, 240])
def test_plate_smear_is_horizontal_and_sized_to_the_plate(width):
    """A one-pixel vertical stroke in the plate is smeared across 10 % of the plate's width
    (whatever its size), not vertically; far from the plate and in the input nothing changes."""
    img = np.zeros((300, 600, 3), np.uint8)
    x0, y0 = 150, 120
    img[y0:y0 + 40, x0 + width // 2] = 255
    img[5, :] = 200                                          # far above the plate
    quad = np.array([[x0, y0], [x0 + width, y0], [x0 + width, y0 + 40], [x0, y0 + 40]], np.float32)
    out = A.plate_smear(img, quad, np.random.default_rng(3), frac=(0.1, 0.1))
    row = out[y0 + 20, :, 0].astype(int)
    lit = np.flatnonzero(row > 0)
    assert abs(len(lit) - 0.1 * width) <= 0.02 * width + 2
    col = out[:, x0 + width // 2, 0].astype(int)
    assert col[y0 - 10] == 0 and col[y0 + 50] == 0           # no vertical spread beyond a tilt
    assert (out[5] == 200).all() and img[y0 + 20, x0 + width // 2, 0] == 255
