"""End-to-end tests of `alprd run`: real processes, real videos, a real RTSP server.
The daemon helpers live in tests/daemon/helpers_daemon.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))

from helpers_daemon import make_rigged_weights  # noqa: E402


@pytest.fixture(scope="session")
def e2e_rigged_weights(tmp_path_factory):
    return make_rigged_weights(tmp_path_factory.mktemp("e2e-weights") / "rigged.pt")


@pytest.fixture(scope="session")
def trained():
    """Whether the shipped weights are trained (the random model reads nothing)."""
    from alprd.model.weights import build_models

    return bool(build_models(None)[2].get("trained"))
