import cv2
import numpy as np
import pytest

from alprd.cascade import Recognizer
from alprd.cli.recognize import sample_image
from alprd.imageio import read_image
from alprd.model import rewarp, unsmear

SAMPLE_TEXT = "粤LQ092V"   # the bundled sample's plate


def _smear(img: np.ndarray, length: int) -> np.ndarray:
    """A car crossing the shutter: a horizontal box of `length` px, as pipelines.stress.mblur."""
    return cv2.filter2D(img, -1, np.full((1, length), 1.0 / length, np.float32), borderType=cv2.BORDER_REFLECT)


def _glyphs() -> np.ndarray:
    img = np.full((60, 240, 3), 200, np.uint8)
    cv2.putText(img, "AB12C7", (8, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (20, 30, 40), 3, cv2.LINE_AA)
    return img


def test_a_box_smear_is_undone_at_its_length_and_a_sharp_image_is_left_alone():
    sharp = _glyphs()
    smeared = _smear(sharp, 15)
    inner = np.s_[:, 40:-40]        # away from the mirrored ends

    def err(x):
        return float(np.abs(x[inner].astype(np.float32) - sharp[inner]).mean())

    at_length, too_short, too_long = unsmear.unsmear_rows(smeared, [15, 5, 30])
    assert err(at_length) < 0.6 * err(smeared), (err(at_length), err(smeared))
    assert min(err(too_short), err(too_long)) > 1.5 * err(at_length)   # why every length is read
    (untouched,) = unsmear.unsmear_rows(sharp, [1])        # a 1-px box is no smear: only damped
    assert err(untouched) < 3.0
    assert at_length.dtype == np.uint8 and at_length.shape == sharp.shape


def test_the_region_holds_the_plate_its_margins_and_the_smear_and_stays_in_the_frame():
    quad = np.array([[100, 50], [200, 50], [200, 80], [100, 80]], np.float32)
    x0, y0, x1, y1 = unsmear.region(quad, (400, 600, 3), longest=20)
    assert (x0, x1) == (100 - 50 - 20, 200 + 50 + 20)
    assert y0 < 50 and y1 > 80
    x0, y0, x1, y1 = unsmear.region(quad - [90, 45], (400, 600, 3), longest=20)   # at the corner
    assert (x0, y0) == (0, 0) and x1 > 110 and y1 > 35
    # cut(): the region with room for the longest length tried, the quad moved into it
    frame = np.random.default_rng(0).integers(0, 255, (400, 600, 3), np.uint8)
    patch, moved = unsmear.cut(frame, quad)
    x0, y0, x1, y1 = unsmear.region(quad, frame.shape, 100 * (max(unsmear.LENGTHS) + unsmear.FINER))
    np.testing.assert_array_equal(patch, frame[y0:y1, x0:x1])
    np.testing.assert_allclose(moved, quad - [x0, y0])


@pytest.mark.parametrize("prepost", ["host", "device"])
def test_a_smeared_plate_is_read_right_with_the_smear_undone(prepost):
    """The shipped weights on the bundled sample smeared by 12-16 % of its plate's width (the
    stress set's 21 px on a CCPD plate): read once, or from wider warps, the province goes wrong
    or the read is too doubtful to report; with the smear undone it reads right, and a sharp
    plate read confidently costs no deconvolution."""
    backend = "torch" if prepost == "device" else "auto"
    plain = Recognizer(threads=1, device="cpu", backend=backend, prepost=prepost, unsmear=False)
    served = Recognizer(threads=1, device="cpu", backend=backend, prepost=prepost)
    img = read_image(sample_image())
    (quad,), _ = served.detect([img])[0]
    width = unsmear.width(quad)
    for frac in (0.12, 0.14, 0.16):
        smeared = _smear(img, int(round(frac * width)))
        assert [r.text for r in plain.recognize([smeared])[0]] != [SAMPLE_TEXT], frac
        assert [r.text for r in served.recognize([smeared])[0]] == [SAMPLE_TEXT], frac

    calls = []
    real = unsmear.unsmear_rows
    try:
        unsmear.unsmear_rows = lambda *a, **k: calls.append(1) or real(*a, **k)
        assert [r.text for r in served.recognize([img])[0]] == [SAMPLE_TEXT]
        assert calls == []
        served.recognize([_smear(img, int(round(0.14 * width)))])
        assert calls                            # (the spy sees the smeared plate's deconvolutions)
    finally:
        unsmear.unsmear_rows = real


def test_an_unsmeared_read_replaces_a_read_only_when_better_and_sure_enough():
    """unsmear.reread with a reader that says what each try gives: the most confident length's
    read wins when its weakest character reaches ADOPT; a junk box whose unsmeared read is more
    confident but not sure enough keeps its own read."""
    frame = _smear(np.random.default_rng(1).integers(0, 255, (100, 300, 3), np.uint8), 25)
    quad = np.array([[100, 40], [200, 40], [200, 70], [100, 70]], np.float32)
    assert unsmear.looks_smeared(frame, quad)
    asked = []

    def reader(sure):
        def read(items):
            asked.append(len(items))
            return [("皖A12345", (sure,) * 7)] * len(items)
        return read

    doubtful = ("皖A1234", (0.5,) * 6)
    assert unsmear.reread([frame], [quad], [doubtful], reader(0.9)) == [("皖A12345", (0.9,) * 7)]
    assert asked == [len(unsmear.LENGTHS), 2, len(rewarp.MARGINS)]   # coarse, finer, wider (still doubtful)
    assert unsmear.reread([frame], [quad], [doubtful], reader(unsmear.ADOPT - 0.01)) == [doubtful]
    asked.clear()
    assert unsmear.reread([frame], [quad], [doubtful], reader(0.99), margins=()) == [("皖A12345", (0.99,) * 7)]
    assert asked == [len(unsmear.LENGTHS), 2]                       # sure: no wider warps
    valid = ("皖A12345", (0.66,) * 7)           # reported, though doubtful: no layout-less read replaces it
    assert unsmear.reread([frame], [quad], [valid], lambda items: [("皖A1234", (0.99,) * 6)] * len(items)) == [valid]
    asked.clear()
    assert unsmear.reread([frame], [quad], [doubtful], reader(0.99), margins=()) == [("皖A12345", (0.99,) * 7)]
    assert asked == [len(unsmear.LENGTHS), 2]                       # sure: no wider warps


def test_only_a_plate_that_looks_smeared_is_deconvolved():
    """The gradient ratio tells a horizontal smear from a sharp plate (or a sharp date stamp, which
    a deconvolution can turn into a confident plate): the bundled sample's plate does not look
    smeared, smeared by 8 % of its width it does; a sharp plate's read stays, unasked."""
    img = read_image(sample_image())
    (quad,), _ = Recognizer(threads=1, device="cpu").detect([img])[0]
    assert not unsmear.looks_smeared(img, quad)
    assert unsmear.looks_smeared(_smear(img, int(round(0.08 * unsmear.width(quad)))), quad)
    asked = []
    doubtful = ("粤LQ092", (0.5,) * 6)
    assert unsmear.reread([img], [quad], [doubtful], lambda items: asked.append(items) or []) == [doubtful]
    assert asked == []
