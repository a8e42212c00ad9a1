"""Fixtures of the chaos suite (helpers in chaos_helpers.py and bursts.py, importable: this folder
and tests/daemon are on sys.path)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))

from helpers_daemon import make_rigged_weights  # noqa: E402
from pg import pg_server  # noqa: E402,F401  (fixture)


@pytest.fixture(scope="session")
def chaos_weights(tmp_path_factory):
    """The rigged weights: one plate "A" in every frame (tests/daemon/helpers_daemon.py)."""
    return make_rigged_weights(tmp_path_factory.mktemp("chaos-weights") / "rigged.pt")
