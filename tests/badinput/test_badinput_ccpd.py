"""CCPD file names, fuzzed: parse_ccpd_name either returns a label or raises ValueError naming
the file, never anything else (IndexError, OverflowError...) and never a label that lies
(corners finite, bbox ordered, a plate of 7 or 8 characters)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `pipelines` is not installed

from ccpd_names import BLUE, GREEN, OLD  # noqa: E402
from pipelines.data.ccpd import parse_ccpd_name  # noqa: E402

NUMBERS = st.one_of(st.integers(-5, 800).map(str), st.integers(10**18, 10**400).map(str),
                    st.sampled_from(["", "+3", " 7", "٣", "²", "1e3", "0x10", "1_0", "nan", "-0"]))
FIELD = st.one_of(
    st.text(alphabet="0123456789_&-. x+٣", max_size=25),
    st.lists(NUMBERS, min_size=1, max_size=9).map("_".join),
    st.lists(st.tuples(NUMBERS, NUMBERS).map("&".join), min_size=1, max_size=5).map("_".join),
)


def _check(name: str) -> None:
    try:
        label = parse_ccpd_name(name)
    except ValueError as exc:
        assert Path(name).name in str(exc), str(exc)
        return
    assert np.isfinite(label.corners).all() and label.corners.shape == (4, 2)
    x1, y1, x2, y2 = label.bbox
    assert x1 <= x2 and y1 <= y2 and len(label.text) in (7, 8)


@settings(max_examples=500, deadline=None)
@given(base=st.sampled_from([BLUE, GREEN, OLD]), index=st.integers(0, 6), field=FIELD)
def test_one_field_replaced_by_anything(base, index, field):
    stem, ext = base.rsplit(".", 1)
    fields = stem.split("-")
    fields[index] = field
    _check("/data/ccpd/" + "-".join(fields) + "." + ext)


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from([BLUE, GREEN, OLD]), data=st.data(), number=NUMBERS)
def test_one_number_replaced_by_anything(base, data, number):
    """A name that stays well-formed but for one number (huge, signed, unicode, empty...)."""
    import re

    spans = [m.span() for m in re.finditer(r"\d+", base)]
    a, b = data.draw(st.sampled_from(spans))
    _check("/data/ccpd/" + base[:a] + number + base[b:])


@settings(max_examples=300, deadline=None)
@given(name=st.text(max_size=120))
def test_any_text(name):
    if "/" in name or "\x00" in name:
        name = name.replace("/", "").replace("\x00", "")
    _check(name or "x")
