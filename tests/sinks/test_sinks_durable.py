"""The durable-sink mechanism (alprd.sinks.durable) with a small real target: a file of lines.

The three fates of a batch (committed, poison named, target unavailable), a batch that fails for
a record the target cannot name, and a spool whose disk is full (held in memory, bounded, the
drops counted exactly).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_sinks import make_event
from waiting import wait_until

from alprd.sinks.durable import DurableSettings, DurableSink, Rejected, TargetUnavailable

FAST = DurableSettings(batch_size=8, flush_interval_s=0.02, retry_max_s=0.2)


class FileTarget:
    """Appends each record's plate to a file; the sentinel file `down` makes it unavailable."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = directory / "written.txt"
        self.where = f"file {self.path}"

    def write(self, records):
        if (self.dir / "down").exists():
            raise TargetUnavailable("the target is down")
        plates, rejected = [], []
        for rec in records:
            ev = json.loads(rec)
            if ev["plate"].startswith("POISON"):
                rejected.append(Rejected(rec, "poison plate"))
            elif ev["plate"].startswith("BOOM"):
                raise RuntimeError("cannot say which record")  # the mechanism isolates it
            else:
                plates.append(ev["plate"])
        with open(self.path, "a") as f:
            f.write("".join(p + "\n" for p in plates))
        return rejected

    def written(self) -> list[str]:
        return self.path.read_text().split() if self.path.exists() else []

    def close(self) -> None:
        pass


def _sink(tmp_path, spool_dir=None, **kw) -> tuple[DurableSink, FileTarget]:
    target = FileTarget(tmp_path / "target")
    settings = DurableSettings(**{**vars(FAST), **kw})
    return DurableSink("file", target, spool_dir or tmp_path / "spool", settings), target


def test_committed_poison_and_unnamed_poison_records(tmp_path):
    sink, target = _sink(tmp_path)
    plates = ["A1", "POISON1", "A2", "BOOM1", "A3"]
    for i, p in enumerate(plates):
        sink.publish(make_event(p, track_id=i))
    assert sink.flush(timeout=120)
    assert target.written() == ["A1", "A2", "A3"]
    rejected = [json.loads(line) for line in (tmp_path / "spool" / "rejected.jsonl").read_text().splitlines()]
    assert [json.loads(r["record"])["plate"] for r in rejected] == ["POISON1", "BOOM1"]
    assert rejected[1]["error"] == "RuntimeError: cannot say which record"
    assert sink.rejected == 2 and sink.available
    sink.close()


def test_an_unavailable_target_keeps_the_batch_and_reports_it(tmp_path):
    sink, target = _sink(tmp_path)
    (target.dir / "down").touch()
    for i in range(5):
        sink.publish(make_event(f"B{i}", track_id=i))
    assert not sink.flush(timeout=2)
    assert wait_until(lambda: not sink.available, 120)
    assert sink.metrics()["spool_bytes"] > 0 and target.written() == []
    (target.dir / "down").unlink()
    # a try under way while the target came back may still fail: flush() waits for one of its own
    assert sink.flush(timeout=120) and sink.available
    assert target.written() == [f"B{i}" for i in range(5)] and sink.rejected == 0
    sink.close()


def test_a_full_spool_disk_holds_events_in_memory_and_counts_drops_exactly(tmp_path):
    from tinyfs import TinyFs

    with TinyFs(tmp_path / "fs", size="64k") as fs:
        if fs.reason:
            pytest.skip(fs.reason)
        sink, target = _sink(tmp_path, fs.path / "spool", memory_max_events=5)
        sink.publish(make_event("C0"))
        assert sink.flush(timeout=120)
        fs.fill()
        for i in range(1, 13):  # a 5000-byte plate: surely more than the page the segment has left
            sink.publish(make_event(f"C{i}", track_id=i, alternatives=(), direction="x" * 5000))
        m = sink.metrics()
        assert (m["memory_events"], m["spool_dropped"]) == (5, 7)
        assert not sink.flush(timeout=2)  # held in memory is not written
        fs.free()
        sink.publish(make_event("C13", track_id=13))
        assert sink.flush(timeout=120)
        assert target.written() == ["C0", "C1", "C2", "C3", "C4", "C5", "C13"]  # in order, none twice
        assert sink.metrics()["memory_events"] == 0 and sink.dropped == 7
        sink.close()


def test_an_ack_the_full_disk_refuses_is_logged_and_the_writer_goes_on(tmp_path, caplog):
    from tinyfs import TinyFs

    with TinyFs(tmp_path / "fs", size="64k") as fs:
        if fs.reason:
            pytest.skip(fs.reason)
        sink, target = _sink(tmp_path, fs.path / "spool")
        (target.dir / "down").touch()
        for i in range(3):
            sink.publish(make_event(f"E{i}", track_id=i))
        fs.fill()  # the events are spooled; the ack file cannot be rewritten now
        (target.dir / "down").unlink()
        assert sink.flush(timeout=120)  # before: the writer thread died here, "available" all along
        assert "cannot persist the spool's ack file" in caplog.text
        assert sink.available and target.written() == ["E0", "E1", "E2"]
        fs.free()
        sink.publish(make_event("E3", track_id=3))
        assert sink.flush(timeout=120) and target.written() == ["E0", "E1", "E2", "E3"]
        sink.close()
        again, _ = _sink(tmp_path, fs.path / "spool")  # the ack was persisted with E3's batch
        assert again.flush(timeout=120) and target.written() == ["E0", "E1", "E2", "E3"]
        again.close()
