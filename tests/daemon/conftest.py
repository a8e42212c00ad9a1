"""Fixtures of the daemon's tests (helpers in helpers_daemon.py, importable: this folder is on
sys.path in pytest's default import mode)."""
from __future__ import annotations

import pytest

from helpers_daemon import make_rigged_weights


@pytest.fixture(scope="session")
def rigged_weights(tmp_path_factory):
    """A weights file that reads one plate "A" at a fixed place in every frame (see helpers)."""
    return make_rigged_weights(tmp_path_factory.mktemp("weights") / "rigged.pt")


@pytest.fixture(scope="session")
def rigged_recognizer(rigged_weights):
    from alprd.cascade import Recognizer

    return Recognizer(weights=str(rigged_weights), device="cpu", backend="torch", crops=True, threads=1)
