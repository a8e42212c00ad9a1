"""Every stream test must leave /dev/shm as it found it (for rings written by this process;
other test runs may share the host). Spawned decoders are checked in their own tests."""
import os

import pytest

from alprd.stream.ring import list_segments, segment_pid


def segments_of(pid: int) -> set[str]:
    return {n for n in list_segments() if segment_pid(n) == pid}


@pytest.fixture(autouse=True)
def no_leaked_segments():
    before = segments_of(os.getpid())
    yield
    leaked = segments_of(os.getpid()) - before
    assert not leaked, f"leaked shared memory: {sorted(leaked)}"


@pytest.fixture(scope="session")
def slow_video(tmp_path_factory):
    """3 frames, one every 1000 s of stream time. Paced in realtime, the second frame is due
    1000 s after the first: a test that stops a source or decoder after the first frame shows
    that the stop cuts that wait short (a stop that waited for the frame would hang the test)."""
    from fractions import Fraction

    from videos import make_video

    return make_video(tmp_path_factory.mktemp("slow") / "slow.mp4", frames=3, fps=Fraction(1, 1000), gop=1)
