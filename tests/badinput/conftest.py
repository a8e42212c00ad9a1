"""Fixtures of the bad-input tests (tests/daemon is on sys.path for its helpers)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))

from helpers_daemon import make_rigged_weights  # noqa: E402


@pytest.fixture(scope="session")
def badinput_weights(tmp_path_factory):
    """The rigged weights (one plate "A" in every image), so every readable image reads."""
    return make_rigged_weights(tmp_path_factory.mktemp("badinput-weights") / "rigged.pt")
