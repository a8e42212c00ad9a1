"""Low-contrast plates stretched before RSNet: a cheap normalisation of the warped plate.

A plate filmed in low light comes out of the warp with its whole range in a few dozen grey levels
(`ccpd_dark_dev`: gamma 1.6, gain 0.35, sensor noise; the median warped plate spans 50 levels
between its 1st and 99th percentile of luminance, CCPD dev's own plates 141, none under 59), and
RSNet, trained on well-exposed plates, misreads it (皖AD19789 → 皖AD1078, ANY → ANL, a doubtful
province). A plate whose luminance spans fewer than MIN_RANGE levels (1st to 99th percentile) is
stretched linearly so that span fills 0-255, the same gain and offset on the three channels (its
colour, which tells blue from yellow and green, is kept); every other plate is left as it is.

Chosen on dev (the served cascade's boxes, read with and without): `ccpd_dark_dev` 91 → 94 of 95;
`ccpd_all_dev` 95, `ccpd_half_dev` 95, `ccpd_third_dev` 93, `ccpd_glare_dev` 92 unchanged. Spans
under 80 or 100 as the rule, or every plate stretched, cost `ccpd_half_dev` one plate (and the
latter `ccpd_glare_dev` one); a gamma to a target mean brightness lost `ccpd_dark_dev` plates.
"""
from __future__ import annotations

import numpy as np

MIN_RANGE = 64.0              # luminance levels between the 1st and 99th percentile
PERCENTILES = (1.0, 99.0)
_LUMA_BGR = np.array([0.114, 0.587, 0.299], np.float32)


def stretch_low_contrast(plates: np.ndarray, min_range: float = MIN_RANGE) -> np.ndarray:
    """N×H×W×3 uint8 BGR plates → the same array with its low-contrast plates stretched in place."""
    if not len(plates) or min_range <= 0:
        return plates
    luma = (plates.reshape(len(plates), -1, 3).astype(np.float32) @ _LUMA_BGR)
    lo, hi = np.percentile(luma, PERCENTILES, axis=1)
    low = np.nonzero(hi - lo < min_range)[0]
    for k in low:
        gain = 255.0 / max(float(hi[k] - lo[k]), 1.0)
        plates[k] = np.clip((plates[k].astype(np.float32) - lo[k]) * gain, 0, 255).round().astype(np.uint8)
    return plates


def stretch_low_contrast_torch(plates, min_range: float = MIN_RANGE):
    """The same on the device: N×3×H×W float BGR in [0, 255] (torch_prepost.warp_plates' output),
    stretched in place and returned."""
    import torch

    if not len(plates) or min_range <= 0:
        return plates
    w = torch.as_tensor(_LUMA_BGR, device=plates.device, dtype=plates.dtype).view(1, 3, 1, 1)
    luma = (plates * w).sum(1).flatten(1)
    q = torch.quantile(luma.float(), torch.tensor([p / 100 for p in PERCENTILES], device=plates.device), dim=1)
    lo, hi = q[0].to(plates.dtype), q[1].to(plates.dtype)
    low = (hi - lo) < min_range
    if bool(low.any()):
        gain = 255.0 / (hi - lo).clamp(min=1.0)
        s = plates[low]
        plates[low] = ((s - lo[low].view(-1, 1, 1, 1)) * gain[low].view(-1, 1, 1, 1)).clamp_(0, 255).round_()
    return plates
