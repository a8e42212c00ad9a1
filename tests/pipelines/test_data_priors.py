from __future__ import annotations

import gzip
import json

import numpy as np

from alprd.model.charset import LETTERS, REGION_CHARS
from pipelines.data.priors import PRIORS_PATH, Priors, build_priors, load_priors
from ccpd_names import BLUE, OLD


def test_committed_priors_are_small_and_complete():
    assert PRIORS_PATH.stat().st_size < 16_000
    p = load_priors()
    s = p.summary
    assert s["n"] > 90_000
    assert s["province"]["皖"] / s["n"] > 0.8
    assert p.quads.shape[1:] == (4, 2) and len(p.quads) >= 32
    json.dumps(s)


def test_sampling():
    p = load_priors()
    rng = np.random.default_rng(0)
    w = p.sample("plate_w", rng, 1000)
    assert 0.05 < w.min() and w.max() < 1.1 and 0.2 < np.median(w) < 0.45
    draws = [p.province(rng) for _ in range(3000)]
    assert set(draws) == set(REGION_CHARS)                   # every province occurs
    assert 0.4 < draws.count("皖") / len(draws) < 0.8        # but 皖 dominates, as in CCPD
    assert all(p.second_letter(rng) in LETTERS for _ in range(100))
    q = p.quad(rng)
    assert q.shape == (4, 2) and abs(np.linalg.norm(q[1] - q[0]) - 1) < 0.5


def test_build_from_lists(tmp_path):
    with gzip.open(tmp_path / "a.txt.gz", "wt", encoding="utf-8") as f:
        f.write(f"ccpd_x/{BLUE}\nccpd_x/{OLD}\nccpd_x/garbage.jpg\n")
    s = build_priors(tmp_path)
    assert s["n"] == 2
    assert s["province"] == {"苏": 1, "皖": 1}
    Priors(s).sample("cx", np.random.default_rng(1))
