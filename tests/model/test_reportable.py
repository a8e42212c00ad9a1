"""Only valid, confident reads are reported by default (alprd.cascade.reportable); every
candidate with all_candidates. A date overlay burnt into the picture is boxed by DSNet and read as a
plate-shaped string, at low confidence: not reported."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from alprd.cascade import Recognizer
from alprd.cascade.reportable import READ_THRESHOLD, reportable
from alprd.cascade.zoom import ZoomPolicy
from alprd.cli.recognize import sample_image
from alprd.events import PlateRead

CORNERS = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))


def read(text, conf):
    return PlateRead(CORNERS, 0.9, text, (conf,) * len(text))


def test_reportable_needs_a_valid_layout_and_confidence():
    assert reportable(read("粤LQ092V", 0.9))
    assert not reportable(read("粤LQ092V", READ_THRESHOLD - 0.01))     # doubtful
    assert not reportable(read("辽0531", 0.95))                        # a fragment: no plate layout
    assert not reportable(read("", 1.0))


def overlay_frame() -> np.ndarray:
    """The bundled sample with a camera's date stamp burnt in below the car."""
    img = cv2.imread(str(sample_image()))
    cv2.putText(img, "20170512", (20, 700), cv2.FONT_HERSHEY_DUPLEX, 1.4, (255, 255, 255), 3)
    return img


@pytest.fixture(scope="module")
def frame():
    return overlay_frame()


def test_a_date_overlay_is_not_reported_by_default(frame):
    rec = Recognizer(threads=1, device="cpu", zoom=ZoomPolicy(tiles_per_frame=0))
    assert [r.text for r in rec.recognize([frame])[0]] == ["粤LQ092V"]


def test_all_candidates_shows_the_overlay_too(frame):
    rec = Recognizer(threads=1, device="cpu", zoom=ZoomPolicy(tiles_per_frame=0), all_candidates=True)
    reads = rec.recognize([frame])[0]
    assert "粤LQ092V" in [r.text for r in reads]
    overlay = [r for r in reads if r.corners[0][1] > 600]            # the stamp sits at y ≈ 680
    assert overlay and all(r.text_conf < READ_THRESHOLD for r in overlay)
