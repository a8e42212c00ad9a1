"""A site's common provinces as a prior on the plate's first character (not a filter).

RSNet's province guess on a small or blurred plate leans to the provinces its training data is
full of (皖, 浙). A site knows better: a camera in Guangzhou sees mostly 粤 plates. The site names
its common provinces, and each step's probability mass on province characters is redistributed in
proportion to p(province | image) × weight (weight for a named province, 1 for the rest): a
doubtful 皖/粤 read tips to 粤, a clear 皖 stays 皖 (a plate from elsewhere still reads right), and
the total mass on province characters (province vs letter vs blank) is unchanged, so nothing but
the choice among provinces moves. Applied to the logits before CTC decoding, so the character's
confidence is its posterior.

PRIOR_WEIGHT was chosen on dev data (plates_cropped/dev, see docs/performance.md).
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from alprd.model.charset import CHARS, REGION_CHARS
from alprd.model.defaults import PROVINCE_WEIGHT

PRIOR_WEIGHT = PROVINCE_WEIGHT
_REGION_IDX = np.array([CHARS.index(c) + 1 for c in REGION_CHARS])   # class indices (0 = blank)


class ProvincePrior:
    def __init__(self, provinces: Iterable[str], weight: float = PRIOR_WEIGHT):
        provinces = list(provinces)
        bad = [p for p in provinces if p not in REGION_CHARS]
        if bad:
            raise ValueError(f"not a province character: {', '.join(bad)} (one of {''.join(REGION_CHARS)})")
        if not weight > 0:
            raise ValueError(f"province prior weight must be > 0, got {weight}")
        self.provinces = tuple(dict.fromkeys(provinces))
        self.weight = float(weight)
        self._log_w = np.array([np.log(weight) if c in self.provinces else 0.0 for c in REGION_CHARS], np.float32)

    def __bool__(self) -> bool:
        return bool(self.provinces) and self.weight != 1.0

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """N×T×C (or T×C) logits → a copy with each step's province logits reweighted; their
        log-sum-exp (the step's total province mass) is kept."""
        out = np.array(logits, np.float32, copy=True)
        x = out[..., _REGION_IDX]
        y = x + self._log_w
        out[..., _REGION_IDX] = y - _lse(y) + _lse(x)
        return out


def _lse(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=-1, keepdims=True)
    return m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
