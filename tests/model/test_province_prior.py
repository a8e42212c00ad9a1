"""A site's common provinces as a prior on the first character (alprd.model.province_prior)."""
from __future__ import annotations

import numpy as np
import pytest

from alprd.backends.prepost import read_plates
from alprd.model.charset import CHARS, NUM_CLASSES, encode
from alprd.model.province_prior import ProvincePrior


def logits_for(steps: list[dict[str, float]]) -> np.ndarray:
    """1×T×C logits: each step's listed characters (and "-" for the blank) with these
    probabilities, the rest of the mass spread thinly."""
    out = np.full((1, len(steps), NUM_CLASSES), -12.0, np.float32)
    for t, probs in enumerate(steps):
        for ch, p in probs.items():
            out[0, t, 0 if ch == "-" else encode(ch)[0]] = np.log(p)
    return out


def plate(first: dict[str, float], rest: str = "LQ092V") -> np.ndarray:
    steps = [first, {"-": 0.99}]
    for ch in rest:
        steps += [{ch: 0.99}, {"-": 0.99}]
    return logits_for(steps)


def test_the_prior_moves_a_doubtful_province_to_the_sites():
    doubtful = plate({"皖": 0.5, "粤": 0.45})
    assert read_plates(doubtful)[0][0] == "皖LQ092V"                  # the training data's favourite
    text, confs = read_plates(ProvincePrior(["粤", "桂"]).apply(doubtful))[0]
    assert text == "粤LQ092V"
    assert confs[0] > 0.7                                               # its posterior: 4×0.45 vs 0.5


def test_a_clear_province_from_elsewhere_still_reads_right():
    clear = plate({"皖": 0.97, "粤": 0.01})
    assert read_plates(ProvincePrior(["粤"]).apply(clear))[0][0] == "皖LQ092V"


def test_only_the_choice_among_provinces_moves():
    x = plate({"皖": 0.5, "粤": 0.45})
    y = ProvincePrior(["粤"]).apply(x)
    region = [encode(c)[0] for c in CHARS[:31]]
    other = [k for k in range(NUM_CLASSES) if k not in region]
    np.testing.assert_array_equal(x[..., other], y[..., other])

    def mass(a):
        p = np.exp(a - a.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        return p[..., region].sum(-1)
    np.testing.assert_allclose(mass(x), mass(y), rtol=1e-4)


def test_a_bad_province_is_a_clear_error():
    with pytest.raises(ValueError, match="not a province character: X"):
        ProvincePrior(["粤", "X"])
