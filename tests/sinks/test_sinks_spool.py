"""The on-disk spool: order, acks across reopen, torn tails, segment rotation, exclusive use."""
from __future__ import annotations

import pytest

from alprd.sinks.spool import Position, Spool, SpoolError


def _drain(spool: Spool, start: Position, n: int = 1000):
    lines, pos = spool.read(start, n)
    return lines, pos


def test_records_come_back_in_order_and_acks_survive_reopen(tmp_path):
    s = Spool(tmp_path)
    s.append([f"r{i}" for i in range(5)])
    s.append(["r5"])
    lines, pos = s.read(s.acked, 3)
    assert lines == ["r0", "r1", "r2"]
    s.ack(pos)
    s.close()
    s = Spool(tmp_path)  # a restart replays only what was not acked
    lines, end = _drain(s, s.acked)
    assert lines == ["r3", "r4", "r5"]
    assert end == s.end
    s.ack(end)
    assert not _drain(s, s.acked)[0]
    s.close()


def test_a_torn_last_record_is_cut_on_open(tmp_path):
    s = Spool(tmp_path)
    s.append(["whole-1", "whole-2"])
    s.close()
    seg = sorted(tmp_path.glob("seg-*.jsonl"))[-1]
    with open(seg, "ab") as f:
        f.write(b'{"half a rec')  # the crash happened mid-write
    s = Spool(tmp_path)
    s.append(["after"])
    assert _drain(s, s.acked)[0] == ["whole-1", "whole-2", "after"]
    s.close()


def test_segments_rotate_and_consumed_ones_are_deleted(tmp_path):
    s = Spool(tmp_path, segment_bytes=100)
    for i in range(30):
        s.append([f"record-{i:03d}"])  # 11 bytes each: ~9 per segment
    assert len(list(tmp_path.glob("seg-*.jsonl"))) >= 3
    got, pos = [], s.acked
    while True:
        lines, pos = s.read(pos, 4)
        if not lines:
            break
        got += lines
        s.ack(pos)
    assert got == [f"record-{i:03d}" for i in range(30)]
    assert len(list(tmp_path.glob("seg-*.jsonl"))) == 1  # only the one still being written
    s.close()
    s = Spool(tmp_path, segment_bytes=100)
    assert _drain(s, s.acked)[0] == []
    s.close()


def test_only_one_process_may_use_a_spool(tmp_path):
    s = Spool(tmp_path)
    with pytest.raises(SpoolError, match="in use"):
        Spool(tmp_path)
    s.close()
    Spool(tmp_path).close()


def test_pending_bytes(tmp_path):
    s = Spool(tmp_path)
    assert s.pending_bytes() == 0
    s.append(["abc", "de"])
    assert s.pending_bytes() == 7
    s.ack(s.end)
    assert s.pending_bytes() == 0
    s.close()


@pytest.mark.parametrize("ack", ["", "{", "null", '{"segment": 1}', '{"segment": 1, "offset": -40}',
                                 '{"segment": 1.5, "offset": 0}', '{"segment": 1, "offset": 99999}',
                                 '{"segment": 999, "offset": 0}'])
def test_a_damaged_ack_file_is_logged_and_the_spool_replayed(tmp_path, caplog, ack):
    s = Spool(tmp_path)
    s.append(["r0", "r1"])
    s.close()
    (tmp_path / "ack.json").write_text(ack)
    s = Spool(tmp_path)  # before: SpoolError (the daemon exited 2), or a reader at offset -40
    assert _drain(s, s.acked)[0] == ["r0", "r1"]
    assert "spool" in caplog.text and "replaying" in caplog.text
    s.ack(s.end)
    s.close()
    assert _drain(Spool(tmp_path), Position(1, 0))[0] == ["r0", "r1"]  # the ack is whole again


def test_an_append_the_full_disk_refuses_never_turns_up_later(tmp_path):
    from tinyfs import TinyFs

    with TinyFs(tmp_path / "fs", size="64k") as fs:
        if fs.reason:
            pytest.skip(fs.reason)
        s = Spool(fs.path / "spool", fsync=True)
        s.append(["first"])
        fs.fill()
        failed = 0
        for i in range(20):
            try:
                s.append([f"big-{i}-" + "x" * 5000])
            except OSError:
                failed += 1
        assert failed == 20
        fs.free()
        s.append(["after"])
        assert _drain(s, s.acked)[0] == ["first", "after"]  # before: the failed ones landed later
        s.close()
        s = Spool(fs.path / "spool")
        assert _drain(s, s.acked)[0] == ["first", "after"]
        s.close()
