"""Shared fixtures. tests/ is on sys.path (no __init__.py), so helpers import as `videos`,
`rtsp_server`, `mqtt_broker`."""
from __future__ import annotations

import logging

import pytest

from rtsp_server import rtsp_server  # noqa: F401  (fixture)
from mqtt_broker import mosquitto  # noqa: F401  (fixture: a throwaway broker per test)
from videos import make_video


@pytest.fixture(scope="session")
def video_file(tmp_path_factory):
    """2 s of 160x120 H.264 at 25 fps; frame i carries index i (videos.frame_index)."""
    return make_video(tmp_path_factory.mktemp("video") / "clip.mp4", frames=50)


@pytest.fixture(scope="session")
def rtsp_video(tmp_path_factory):
    """30 s of 160x120 at 25 fps: long enough that an RTSP test never reaches its end."""
    return make_video(tmp_path_factory.mktemp("rtsp") / "long.mp4", frames=750)


@pytest.fixture(autouse=True)
def _restore_logging():
    """`alprd.cli.main` installs a stderr handler; keep it from outliving the test's capture."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
