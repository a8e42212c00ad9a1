"""Fixtures for the data-side pipeline tests. Real data (../shared/data) is optional: tests that
need it skip when it is absent."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:          # `pipelines` is not an installed package
    sys.path.insert(0, str(_REPO))

from pipelines.data import data_root  # noqa: E402


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = data_root()
    if root is None:
        pytest.skip("shared data folder absent")
    return root


@pytest.fixture(scope="session")
def synth_assets(shared_data) -> Path:
    from pipelines.synth import assets
    if not assets.assets_available():
        pytest.skip("synthesis assets absent")
    return shared_data / "synth"
