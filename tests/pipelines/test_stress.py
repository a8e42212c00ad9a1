"""pipelines.stress: seeded stress variants of labelled stills (quads moved with the pixels), the
real-scene sets with their junk measure, and their registration in pipelines.evaluation."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from alprd.cli.recognize import sample_image
from pipelines import stress
from pipelines.evaluation.metrics import Sample
from pipelines.evaluation.sets import resolve_set

QUAD = np.array([[[202.1, 381.6], [310.5, 382.3], [312.5, 413.8], [204.1, 413.8]]], np.float32)


@pytest.fixture(scope="module")
def sample():
    return Sample("sample.jpg", cv2.imread(str(sample_image())), QUAD, ("粤LQ092V",))


@pytest.mark.parametrize("variant", ["half", "third", "mblur", "glare", "dark"])
def test_variants_are_seeded_and_keep_the_quads_on_the_plate(sample, variant):
    a = next(stress.stressed(variant, [sample], root=None))
    b = next(stress.stressed(variant, [sample], root=None))
    np.testing.assert_array_equal(a.image, b.image)                 # the same set on every run
    assert not np.array_equal(a.image.shape, sample.image.shape) or not np.array_equal(a.image, sample.image)
    f = np.array([a.image.shape[1] / sample.image.shape[1], a.image.shape[0] / sample.image.shape[0]], np.float32)
    np.testing.assert_allclose(a.corners, sample.corners * f, rtol=1e-5)
    assert a.texts == sample.texts


def test_dark_is_darker_and_mblur_smears_along_rows(sample):
    dark = stress.dark(sample, stress.rng_for("t"))
    assert dark.image.mean() < 0.5 * sample.image.mean()
    blur = stress.mblur(sample, None).image.astype(np.float32)
    assert np.abs(np.diff(blur, axis=1)).mean() < 0.5 * np.abs(np.diff(sample.image.astype(np.float32), axis=1)).mean()


def test_far_puts_a_25_to_45_px_plate_in_a_1080p_frame(sample, shared_data):
    for k in range(5):
        s = Sample(f"s{k}", sample.image, sample.corners, sample.texts)
        far = next(stress.stressed("far", [s], shared_data))
        assert far.image.shape == (1080, 1920, 3)
        c = far.corners.reshape(-1, 4, 2)[0]
        assert 24.5 <= np.linalg.norm(c[1] - c[0]) <= 45.5
        x0, y0 = np.floor(c.min(0)).astype(int)
        x1, y1 = np.ceil(c.max(0)).astype(int)
        crop = far.image[y0:y1, x0:x1].astype(np.float32)
        assert crop[..., 0].mean() > crop[..., 2].mean()             # the blue plate is where its quad is


def test_sets_are_registered(shared_data):
    assert resolve_set("ccpd_far_dev", shared_data, limit=1)[0] == "scenes"
    kind, items = resolve_set("street_dev", shared_data, limit=2)
    assert kind == "labelled" and all(isinstance(s, stress.Scene) for s in items)
    rows = stress.scene_rows(shared_data, True)
    assert rows and all(r["two_row"] == "yes" for r in rows)


def test_labelled_scenes_count_reads_and_junk(sample):
    from alprd.cascade import Recognizer

    rec = Recognizer(threads=1, device="cpu")
    right = stress.Scene("a", sample.image, ("粤LQ092V",))
    other = stress.Scene("b", sample.image, ("京A12345",))          # its one read is 3+ edits off: junk
    m = stress.evaluate_labelled(rec, [right, other])
    assert (m["plates"], m["plates_read"], m["reported"], m["junk"]) == (2, 1, 2, 1)
    assert m["read_acc"] == 0.5 and m["junk_frac"] == 0.5
