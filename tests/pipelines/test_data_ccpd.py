from __future__ import annotations

import numpy as np
import pytest

from alprd.model.charset import encode
from pipelines.data.ccpd import CCPD_SIZE, ccpd_roots, list_ccpd, load_ccpd_split, parse_ccpd_name

from ccpd_names import BLUE, GREEN, OLD


def test_blue_name_fields_and_corner_order():
    lab = parse_ccpd_name(BLUE)
    assert lab.text == "苏CFY773" and not lab.is_green
    assert lab.bbox == (220, 469, 341, 511)
    # file order RB, LB, LT, RT → project order TL, TR, BR, BL
    assert lab.corners.dtype == np.float32
    np.testing.assert_array_equal(lab.corners, [[224, 471], [328, 475], [328, 514], [224, 510]])
    assert lab.tilt == (91, 84) and lab.brightness == 103 and lab.blur == 12
    tl, tr, br, bl = lab.corners
    assert tl[0] < tr[0] and bl[0] < br[0] and tl[1] < bl[1] and tr[1] < br[1]


def test_green_and_old_style_names():
    g = parse_ccpd_name("some/dir/" + GREEN)
    assert g.is_green and len(g.text) == 8 and g.text.startswith("皖AD")
    encode(g.text)
    o = parse_ccpd_name(OLD)
    assert o.tilt == (0, 1) and o.text == "皖A13H25"


@pytest.mark.parametrize("bad, why", [
    ("foo.jpg", "7 '-'-separated fields"),
    (BLUE.replace("-91_84-", "-91-"), "tilt"),
    (BLUE.replace("220&469_341&511", "220&469_341"), "bbox"),
    (BLUE.replace("328&514_224&510_224&471_328&475", "328&514_224&510_224&471"), "vertices"),
    (BLUE.replace("10_2_5_22_31_31_27", "10_2_5_22_31_31"), "7 or 8"),
    (BLUE.replace("10_2_5_22_31_31_27", "10_2_5_22_31_31_99"), "out of range"),
    (BLUE.replace("-103-12", "-x-12"), "brightness"),
    (BLUE.replace("220&469_341&511", "341&511_220&469"), "swapped"),
])
def test_malformed_names_raise_with_file_name(bad, why):
    with pytest.raises(ValueError) as exc:
        parse_ccpd_name("/some/where/" + bad)
    msg = str(exc.value)
    assert bad in msg and why in msg


def test_list_ccpd_strict_and_lenient(tmp_path):
    for n in (BLUE, GREEN, "notes.txt"):
        (tmp_path / n).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / OLD).write_bytes(b"")
    got = list_ccpd(tmp_path)
    assert [s.label.name for s in got] == sorted([BLUE, GREEN]) + [OLD]
    (tmp_path / "broken-name.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="broken-name.jpg"):
        list_ccpd(tmp_path)
    assert len(list_ccpd(tmp_path, strict=False)) == 3
    with pytest.raises(FileNotFoundError):
        list_ccpd(tmp_path / "missing")


def test_split_argument_is_checked(tmp_path):
    with pytest.raises(ValueError):
        ccpd_roots(tmp_path, "train")


def test_real_dev_names(shared_data):
    samples = load_ccpd_split(shared_data, "dev")
    assert len(samples) >= 90
    assert all("/dev/" in str(s.path) for s in samples)
    for s in samples:
        c = s.label.corners
        assert c.shape == (4, 2)
        assert (c >= 0).all() and (c[:, 0] <= CCPD_SIZE[0]).all() and (c[:, 1] <= CCPD_SIZE[1]).all()
        encode(s.label.text)
        # TL is left of TR and above BL
        assert c[0, 0] < c[1, 0] and c[0, 1] < c[3, 1]
    assert any(s.label.is_green for s in samples)
