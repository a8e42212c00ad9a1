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
