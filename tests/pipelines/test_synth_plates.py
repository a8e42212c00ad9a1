from __future__ import annotations

import numpy as np
import pytest

from alprd.model.charset import LETTERS, encode
from alprd.model.plate_format import is_valid_plate
from pipelines.synth.plates import KINDS, char_boxes_mm, random_plate, render_plate, sample_text


def test_layouts_follow_ga36():
    (w, h), boxes = char_boxes_mm(7)
    assert (w, h) == (440, 140) and len(boxes) == 7
    assert boxes[0][0] == 15.5 and boxes[-1][2] == 440 - 15.5               # symmetric margins
    assert boxes[2][0] - boxes[1][2] == 34 and boxes[3][0] - boxes[2][2] == 12   # dot gap, normal gap
    assert all(b[3] - b[1] == 90 and b[1] == 25 for b in boxes)
    (w, h), boxes = char_boxes_mm(8)
    assert (w, h) == (480, 140) and len(boxes) == 8
    assert boxes[-1][2] == 480 - 15.5 and boxes[0][2] - boxes[0][0] == 45 and boxes[1][2] - boxes[1][0] == 43


def test_text_rules():
    rng = np.random.default_rng(0)
    for _ in range(300):
        for kind in ("blue", "yellow", "green", "green_large", "police", "coach"):
            t = sample_text(rng, kind)
            assert is_valid_plate(t), (kind, t)
            assert len(t) == (8 if kind.startswith("green") else 7)
            encode(t)
        g = sample_text(rng, "green")
        assert g[2] in LETTERS and g[4:].isdigit()            # energy letter, then ≥4 digits
        assert sample_text(rng, "green_large")[-1] in "DF"
        assert sample_text(rng, "police")[-1] == "警" and sample_text(rng, "coach")[-1] == "学"
    with pytest.raises(ValueError, match="unknown plate kind"):
        sample_text(rng, "purple")


def test_render_is_deterministic_and_labelled(synth_assets):
    for kind in KINDS:
        a = random_plate(np.random.default_rng(7), kind=kind)
        b = random_plate(np.random.default_rng(7), kind=kind)
        assert a.text == b.text and a.image.tobytes() == b.image.tobytes()
        h, w = a.image.shape[:2]
        assert a.image.dtype == np.uint8 and a.alpha.shape == (h, w)
        np.testing.assert_array_equal(a.corners, [[0, 0], [w, 0], [w, h], [0, h]])
        assert w == round((480 if kind.startswith("green") else 440) * 0.5) and h == 70
        encode(a.text)
    c = random_plate(np.random.default_rng(8))
    assert c.image.tobytes() != random_plate(np.random.default_rng(7)).image.tobytes()


def test_every_character_box_has_ink(synth_assets):
    """Each character cell really differs from the plate's background (text drawn where the
    layout says), and the gaps between cells mostly do not."""
    rng = np.random.default_rng(3)
    for kind, text in (("blue", "皖A12345"), ("green", "粤BD12345"), ("yellow", "京Q8X9Z7")):
        p = render_plate(text, kind, rng, px_per_mm=1.0, weight=False)
        g = p.image.astype(np.float32).mean(axis=2)
        _, boxes = char_boxes_mm(len(text))
        bg = np.median(g[5:20, :])                          # the strip above the characters
        for x0, y0, x1, y1 in boxes:
            cell = g[int(y0) + 5:int(y1) - 5, int(x0) + 2:int(x1) - 2]
            assert (np.abs(cell - bg) > 60).mean() > 0.1, (kind, text)
    with pytest.raises(ValueError):
        render_plate("皖A1234", "blue", rng)
    with pytest.raises(ValueError):
        render_plate("皖A12345", "green", rng)
