"""Fixtures of the service tests: the daemon helpers of tests/daemon (rigged weights: one plate
"A" in every frame, `alprd run` in a subprocess) and a short looping video."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))

from helpers_daemon import make_rigged_weights, moving_square_frame  # noqa: E402
from videos import make_video  # noqa: E402


@pytest.fixture(scope="session")
def svc_weights(tmp_path_factory):
    return make_rigged_weights(tmp_path_factory.mktemp("svc-weights") / "rigged.pt")


@pytest.fixture(scope="session")
def loop_video(tmp_path_factory):
    """1 s of 320x240 at 25 fps, looped by the cameras that use it."""
    return make_video(tmp_path_factory.mktemp("svc-video") / "loop.mp4", frames=25, size=(320, 240), fps=25,
                      draw=moving_square_frame((320, 240)))
