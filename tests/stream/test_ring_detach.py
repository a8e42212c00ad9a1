"""A writer that goes away on purpose (a file at its end) detaches: its frames stay readable for a
reader that attaches later (a restarted inference worker), without a resource-tracker warning,
until the owner removes that camera's orphans."""
import multiprocessing as mp

import numpy as np

from alprd.stream.ring import FrameRing, RingReader, list_segments, remove_orphans, segment_pid

CTX = mp.get_context("spawn")


def _write_and_detach(camera: str, value: int, q) -> None:
    ring = FrameRing(camera, slots=2)
    ref = ring.write(np.full((4, 6, 3), value, np.uint8), 1.0)
    ring.detach()
    q.put(ref)


def _run_writer(camera: str, value: int):
    q = CTX.Queue()
    p = CTX.Process(target=_write_and_detach, args=(camera, value, q))
    p.start()
    ref = q.get(timeout=120)
    p.join(30)
    assert p.exitcode == 0
    return ref, p.pid


def test_detached_frames_outlive_their_writer_until_the_owner_removes_them():
    a, pid_a = _run_writer("detach-a", 7)
    b, pid_b = _run_writer("detach-b", 9)
    try:
        assert a.shm_name in list_segments() and segment_pid(a.shm_name) == pid_a
        with RingReader() as reader:  # a reader that comes after the writer has gone
            img = reader.read(a)
        assert img is not None and int(img[0, 0, 0]) == 7
        assert remove_orphans(camera="detach-a") == [a.shm_name]
        assert a.shm_name not in list_segments() and b.shm_name in list_segments()
    finally:
        remove_orphans(camera="detach-a")
        remove_orphans(camera="detach-b")
    assert b.shm_name not in list_segments()
