import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from alprd.stream.ring import FrameRef, FrameRing, RingReader, list_segments, remove_orphans, segment_name


def frame(value: int, h: int = 12, w: int = 16) -> np.ndarray:
    img = np.full((h, w, 3), value % 256, np.uint8)
    img[0, 0] = (1, 2, 3)
    return img


def test_round_trip_copies_pixels_and_describes_them():
    with FrameRing("cam-a", slots=4) as ring, RingReader() as reader:
        src = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
        ref = ring.write(src, 123.5, seq=7)
        assert (ref.camera_id, ref.seq, ref.timestamp, ref.shape) == ("cam-a", 7, 123.5, (48, 64, 3))
        assert ref.shm_name == ring.name and ref.shm_name in list_segments()
        ref = pickle.loads(pickle.dumps(ref))  # it crosses a queue
        out = reader.read(ref)
        assert out is not None and np.array_equal(out, src)
        out[:] = 0  # a private copy: the ring is untouched
        assert np.array_equal(reader.read(ref), src)
        assert ring.dropped == 0 and reader.stale == 0


def test_grey_frames_round_trip():
    with FrameRing("grey", slots=2) as ring, RingReader() as reader:
        src = np.arange(30, dtype=np.uint8).reshape(5, 6)
        assert np.array_equal(reader.read(ring.write(src, 1.0)), src)


def test_writer_never_blocks_and_counts_overwritten_unread_frames():
    with FrameRing("cam-b", slots=3) as ring, RingReader() as reader:
        refs = [ring.write(frame(i), float(i)) for i in range(8)]
        assert ring.dropped == 5  # 8 written into 3 slots, nothing read
        got = [reader.read(r) for r in refs]
        assert [g is None for g in got] == [True] * 5 + [False] * 3
        assert [int(g[1, 1, 0]) for g in got[5:]] == [5, 6, 7]
        assert reader.stale == 5
        # frames that were read are not counted when their slot is reused
        for i in range(8, 11):
            reader.read(ring.write(frame(i), float(i)))
        assert ring.dropped == 5


def test_reader_detects_a_slot_being_rewritten():
    with FrameRing("cam-c", slots=2) as ring, RingReader() as reader:
        ref = ring.write(frame(1), 1.0)
        # what a reader sees while the writer is half-way through that slot
        ring._seg.hdr["seq"][ref.slot] = -1
        assert reader.read(ref) is None
        # and after the writer finished a newer frame there
        ring._seg.hdr["seq"][ref.slot] = ref.seq + 2
        assert reader.read(ref) is None
        assert reader.stale == 2


def test_resolution_growth_recreates_the_segment_under_a_new_name():
    with FrameRing("cam-d", slots=2) as ring, RingReader() as reader:
        small = ring.write(frame(1, 12, 16), 1.0)
        assert reader.read(small) is not None
        first = ring.name
        big_src = frame(2, 120, 160)
        big = ring.write(big_src, 2.0)
        assert ring.name != first and first not in list_segments()
        assert np.array_equal(reader.read(big), big_src)
        # smaller frames fit the bigger slots: no new segment
        assert np.array_equal(reader.read(ring.write(frame(3, 12, 16), 3.0)), frame(3, 12, 16))
        assert ring.name == big.shm_name
        assert reader.read(small) is None  # its ring is gone


def test_unread_frames_lost_with_an_old_segment_are_counted():
    with FrameRing("cam-e", slots=4) as ring:
        ring.write(frame(1), 1.0)
        ring.write(frame(2), 2.0)
        ring.write(frame(3, 24, 32), 3.0)
        assert ring.dropped == 2


def test_ref_to_a_closed_ring_reads_as_none():
    ring = FrameRing("cam-f", slots=2)
    ref = ring.write(frame(1), 1.0)
    ring.close()
    with RingReader() as reader:
        assert reader.read(ref) is None
        assert reader.read(FrameRef("x", 0, 0.0, 0, (2, 2, 3), "alprd_nothing_1_1")) is None


def test_rejects_what_it_cannot_store():
    with FrameRing("cam-g", slots=2) as ring:
        with pytest.raises(ValueError):
            ring.write(np.zeros((4, 4, 3), np.float32), 0.0)
        with pytest.raises(ValueError):
            ring.write(np.zeros(4, np.uint8), 0.0)
    with pytest.raises(ValueError):
        FrameRing("cam-h", slots=1)


def test_segment_names_are_short_and_safe():
    name = segment_name("a" * 200, 3, pid=42, owner=41)
    assert name.startswith("alprd_") and name.endswith("_41_42_3") and len(name) < 64


def test_another_process_reads_without_unlinking_or_warning():
    """The resource-tracker workaround: a reader process that exits must leave the segment alone
    and print nothing (Python < 3.13 would unlink it and warn about a 'leaked' segment)."""
    with FrameRing("cam-x", slots=2) as ring:
        ref = ring.write(frame(9), 9.0)
        code = textwrap.dedent(f"""
            from alprd.stream.ring import FrameRef, RingReader
            reader = RingReader()
            img = reader.read(FrameRef(*{(ref.camera_id, ref.seq, ref.timestamp, ref.slot, ref.shape, ref.shm_name)!r}))
            print(int(img[1, 1, 0]))
            reader.close()
        """)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip() == "9"
        assert res.stderr == ""
        assert ref.shm_name in list_segments()
        # and the reader marked it read: reusing the slot is not a drop
        ring.write(frame(10), 10.0)  # slot 1
        ring.write(frame(11), 11.0)  # slot 0: frame 9 was read there
        assert ring.dropped == 0
        ring.write(frame(12), 12.0)  # slot 1: frame 10 was not
        assert ring.dropped == 1


def test_remove_orphans_unlinks_only_dead_writers_segments(tmp_path):
    """In a folder of its own: /dev/shm also holds the rings of daemons other tests run meanwhile,
    whose ended files' rings (writer gone, frames not yet read) are not this test's to remove."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, timeout=30)
    dead_pid, me = int(dead.stdout), os.getpid()
    orphan = segment_name("orphan", 1, pid=dead_pid, owner=me)   # this "daemon"'s dead writer
    alive = segment_name("alive", 1, owner=me)  # written by this process
    others = segment_name("others", 1, pid=dead_pid, owner=os.getppid())  # a live daemon's ended file
    abandoned = segment_name("abandoned", 1, pid=dead_pid, owner=dead_pid)  # its daemon is gone too
    for name in (orphan, alive, others, abandoned):
        (tmp_path / name).write_bytes(b"\0" * 64)
    assert sorted(remove_orphans(str(tmp_path))) == sorted([orphan, abandoned])
    assert list_segments(str(tmp_path)) == sorted([alive, others])
