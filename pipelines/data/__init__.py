"""Real data: CCPD stills (labels in the file names), real plate crops, and CCPD-derived priors.

The data lives outside the repository (../shared/data next to the checkout); `data_root()` finds
it, `ALPRD_DATA` overrides. Train and tune on `dev/` folders only: `holdout/` is for the final
evaluation.
"""
from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]


def data_root(required: bool = False) -> Path | None:
    """The shared data folder: $ALPRD_DATA, else ../shared/data beside the repository."""
    env = os.environ.get("ALPRD_DATA")
    candidates = [Path(env)] if env else []
    candidates += [_REPO.parent / "shared" / "data", _REPO / "shared" / "data"]
    for c in candidates:
        if c.is_dir():
            return c
    if required:
        raise FileNotFoundError(
            "shared data folder not found (looked at "
            + ", ".join(str(c) for c in candidates)
            + "); set ALPRD_DATA to the folder that holds ccpd/, plates_cropped/ and synth/")
    return None
