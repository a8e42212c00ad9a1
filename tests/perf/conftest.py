"""Fixtures for the inference-speed paths and the benchmarks (no timing is ever asserted)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Exports and the backend choice go to a per-test cache, never the user's."""
    monkeypatch.setenv("ALPRD_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def bright_weights(tmp_path_factory):
    from benchmarks.rigged import make_bright_plate_weights

    return make_bright_plate_weights(tmp_path_factory.mktemp("weights") / "bright.pt")
