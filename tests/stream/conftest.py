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
