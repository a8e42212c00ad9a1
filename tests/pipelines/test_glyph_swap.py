from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipelines.synth.glyph_swap import CELLS_MM, MIN_FIT, fit_layout, is_blue, swap_cell


def _plate(text: str, seed: int, pad_left: int = 0, size=(288, 96)) -> np.ndarray:
    """A drawn blue plate rectified to `size`, optionally cut out with a margin on its left."""
    from pipelines.synth.plates import render_plate
    p = render_plate(text, "blue", np.random.default_rng(seed), px_per_mm=0.6)
    img = cv2.copyMakeBorder(p.image, 0, 0, pad_left, 0, cv2.BORDER_CONSTANT, value=(40, 40, 40))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def test_layout_fit_finds_the_characters_of_a_tight_and_a_loose_cut_out(synth_assets):
    tight = _plate("皖A12345", 0)
    a, s, q = fit_layout(tight)
    assert q > MIN_FIT and abs(a) <= 4 and s == pytest.approx(288 / 440, rel=0.06)
    loose = _plate("皖A12345", 0, pad_left=40)      # 40 px of 304 before the plate: 37.9 px at 288
    a2, s2, q2 = fit_layout(loose)
    assert q2 > MIN_FIT and a2 == pytest.approx(40 * 288 / (264 + 40), abs=5)
    assert not is_blue(np.full((48, 144, 3), (0, 200, 230), np.uint8)) and is_blue(tight)


def test_swap_moves_the_donor_province_cell_and_keeps_the_rest(synth_assets):
    recipient, donor = _plate("浙B12345", 1), _plate("皖A67890", 2, pad_left=30)
    out = swap_cell(recipient, donor)
    assert out is not None and out.shape == recipient.shape
    a, s, _ = fit_layout(recipient)
    x1 = int(round(a + s * CELLS_MM[0][1]))
    assert np.array_equal(out[:, x1 + 1:], recipient[:, x1 + 1:])        # letters and digits untouched
    # the new cell is the donor's glyph, not the recipient's
    expected = swap_cell(recipient, _plate("皖A67890", 2))
    cell = slice(int(round(a + s * 15.5)), int(round(a + s * 60.5)))
    own = np.abs(out[:, cell].astype(int) - recipient[:, cell]).mean()
    other = np.abs(out[:, cell].astype(int) - expected[:, cell]).mean()
    assert other < own / 2


def test_swap_moves_a_digit_cell_between_positions(synth_assets):
    recipient, donor = _plate("浙B12345", 3), _plate("皖A67890", 4, pad_left=30)
    out = swap_cell(recipient, donor, cell=6, donor_cell=3)          # recipient's 5 <- donor's 7
    assert out is not None
    a, s, _ = fit_layout(recipient)
    x0 = int(round(a + s * CELLS_MM[6][0]))
    assert np.array_equal(out[:, :x0 - 1], recipient[:, :x0 - 1])      # the first six untouched
    reference = swap_cell(recipient, _plate("浙B12347", 3), cell=6)     # a 7 in place
    own = np.abs(out[:, x0:].astype(int) - recipient[:, x0:]).mean()
    other = np.abs(out[:, x0:].astype(int) - reference[:, x0:]).mean()
    assert other < own / 2


def test_swap_refuses_what_has_no_plate_layout():
    blank = np.full((96, 288, 3), 120, np.uint8)
    noise = np.random.default_rng(0).integers(0, 255, (96, 288, 3), dtype=np.uint8)
    assert swap_cell(blank, noise) is None


TEXTS = ["浙B12345", "皖A67890", "沪C2468K", "京N13579", "苏E97531", "浙A8ADF3"]


def _real_dataset(tmp_path, seed: int, pad: int):
    """A CropDataset whose real items are drawn plates (TEXTS) cut out with growing margins."""
    from pipelines.datasets import CropDataset
    ds = CropDataset(n_synth=0, real_crops=False, ccpd_plates=False)
    for i, t in enumerate(TEXTS):
        path = tmp_path / f"{i}.png"
        cv2.imwrite(str(path), _plate(t, seed + i, pad_left=pad * i, size=(220, 70)))
        ds.real.append((path, None, t, "crop"))
    return ds


def test_crop_dataset_relabels_swapped_items(synth_assets, tmp_path):
    ds = _real_dataset(tmp_path, 10, 8)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        j = int(rng.integers(len(TEXTS)))
        r = ds.swapped(j, rng, province=True)
        if r is None:
            continue
        img, text = r
        assert img.shape[:2] == (96, 288) and text[1:] == TEXTS[j][1:]
        assert text[0] in {t[0] for t in TEXTS}
        seen.add(text[0])
    assert len(seen) >= 3                           # donors' provinces, not only the recipient's


def test_crop_dataset_swaps_letters_and_digits_by_class(synth_assets, tmp_path):
    ds = _real_dataset(tmp_path, 20, 6)
    rng = np.random.default_rng(1)
    changed = 0
    for _ in range(30):
        j = int(rng.integers(len(TEXTS)))
        r = ds.swapped(j, rng, province=False, glyphs=2)
        if r is None:
            continue
        text, old = r[1], TEXTS[j]
        diff = [i for i in range(7) if text[i] != old[i]]
        assert text[0] == old[0] and len(diff) <= 2
        assert text[1] in {t[1] for t in TEXTS}                        # a second letter from a second letter
        assert all(c in {ch for t in TEXTS for ch in t[2:]} for c in text[2:])
        changed += bool(diff)
    assert changed >= 10
