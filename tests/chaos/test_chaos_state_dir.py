"""Chaos in the state directory (#18 items 1 and 4): a spool holding records that can never be
written and a damaged ack file, and a state disk that fills up while the daemon runs.

Before: one wrongly typed record blocked the SQL sink forever (every later final stayed in the
spool), a negative ack offset killed its writer while it still said "available", an empty ack
file made `alprd run` exit 2; on a full disk events counted as dropped reached SQL later anyway
and `alprd status` called the running daemon "not running". Each run ends in the chaos ledger.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
import yaml
from bursts import burst_schedule, make_burst_video
from chaos_helpers import (DaemonProcess, Ledger, Subscriber, chaos_config, events, free_port,
                           no_tracebacks, run_alprd, sql_finals, stats)
from tinyfs import TinyFs

FRESH_S = 20.0  # alprd.cli.status: a snapshot older than this used to mean "not running"


def _poison_records() -> list[str]:
    """Valid JSON an SQL insert can never take: a time as a number, a very deeply nested object."""
    base = {"schema_version": 1, "event_id": str(uuid.uuid4()), "kind": "plate.final",
            "camera_id": "old", "track_id": 1, "plate": "OLD1", "confidence": 0.9,
            "alternatives": [], "reads": 3, "first_seen": 1765000000, "last_seen": 1765000001,
            "direction": None, "parked": False, "corners": None, "crop_path": None}
    deep = {**base, "event_id": str(uuid.uuid4()), "first_seen": "2026-12-06T10:00:00+00:00",
            "last_seen": "2026-12-06T10:00:01+00:00"}
    nested = json.dumps(deep)[:-1] + ', "extra": ' + "[" * 50000 + "]" * 50000 + "}"
    return [json.dumps(base), nested]


# One damaged ack file in a real daemon (the offset that once killed the writer thread); every other
# kind of damage (empty, garbled, null, out of range...) is tests/sinks/test_sinks_spool.py's, in
# process: a daemon run each cost ~11 s of the suite's budget and proved nothing more.
def test_poison_records_and_a_damaged_ack_file_do_not_block_the_sql_sink(tmp_path, chaos_weights):
    ack = '{"segment": 1, "offset": -40}'
    video = make_burst_video(tmp_path / "cam.mp4", burst_schedule(2, first_s=0.5, gap_s=2.5))
    state = tmp_path / "state"
    spool = state / "spool" / "sql"
    spool.mkdir(parents=True)
    poison = _poison_records()
    (spool / f"seg-{1:012d}.jsonl").write_text("".join(r + "\n" for r in poison))
    (spool / "ack.json").write_text(ack)
    port = free_port()
    db = tmp_path / "events.db"
    cfg = chaos_config(tmp_path / "alprd.yaml", [{"id": "cam", "url": str(video)}], state_dir=state,
                       weights=chaos_weights, bus_port=port, sql_url=f"sqlite:///{db}",
                       tracking={"max_unseen_s": 1.5})
    sub = Subscriber(f"tcp://127.0.0.1:{port}")
    try:
        res = run_alprd("--log-level", "INFO", "run", "-c", str(cfg), timeout=180, cwd=tmp_path)
    finally:
        sub.close()
    assert res.returncode == 0, res.stderr[-4000:]  # before: exit 2 on a damaged ack file
    print(res.stderr[-5000:])
    no_tracebacks(res.stderr)                        # before: the writer's traceback (offset -40)
    s = stats(state)
    Ledger("damaged spool", {"cam": 2}, sql_finals(f"sqlite:///{db}"), sub.finals(),
           sub.events("plate.preview"), events(state / "events.jsonl", "plate.final"),
           counted=s["events"]["plate.final"]).check()
    assert "damaged ack.json" in res.stderr
    rejected = [json.loads(line) for line in (spool / "rejected.jsonl").read_text().splitlines()]
    assert [r["record"] for r in rejected] == poison  # set aside whole, in order, once each
    assert s["sinks"]["sql"]["rejected"] == 2 and s["sinks"]["sql"]["spool_bytes"] == 0


def test_a_full_state_disk_holds_events_in_memory_and_status_still_sees_the_daemon(tmp_path, chaos_weights):
    fs = TinyFs(tmp_path / "state", size="4m")
    if fs.reason:
        fs.close()
        pytest.skip(fs.reason)
    plates = 6
    video = make_burst_video(tmp_path / "cam.mp4", burst_schedule(plates, first_s=0.5, gap_s=4.5))
    port = free_port()
    db = tmp_path / "events.db"  # the database and the JSONL file live off the full disk
    cfg = chaos_config(tmp_path / "alprd.yaml", [{"id": "cam", "url": str(video)}], state_dir=fs.path,
                       weights=chaos_weights, bus_port=port, sql_url=f"sqlite:///{db}",
                       tracking={"max_unseen_s": 1.5})
    doc = yaml.safe_load(cfg.read_text())
    doc["sinks"]["jsonl"]["path"] = str(tmp_path / "events.jsonl")
    cfg.write_text(yaml.safe_dump(doc))
    sub = Subscriber(f"tcp://127.0.0.1:{port}")
    d = DaemonProcess(cfg, tmp_path)
    try:
        # full before the first event: the spool's empty segment has no page to append into
        d.wait_for(lambda: (fs.path / "stats.json").exists() and not sub.events(), 90, "the daemon's start")
        fs.fill()
        full_since = time.monotonic()
        d.wait_for(lambda: len(sub.finals()) >= 3, 90, "three finals while the disk is full")
        time.sleep(max(0.0, FRESH_S + 2 - (time.monotonic() - full_since)))
        status = run_alprd("status", "--state-dir", str(fs.path), "--json", timeout=30)
        assert status.returncode == 0, status.stdout + status.stderr  # before: 3 "not running"
        assert json.loads(status.stdout)["figures_age_s"] >= FRESH_S
        fs.free()
        assert d.wait(120) == 0, d.stderr[-4000:]  # the file ends: the daemon stops by itself
        s = stats(fs.path)
    finally:
        d.close()
        sub.close()
        fs.close()
    err = d.stderr
    no_tracebacks(err)
    assert "cannot spool events" in err and "holding up to" in err and "spooling works again" in err
    assert "stats.json" in err  # the stats write that failed, logged once
    Ledger("full state disk", {"cam": plates}, sql_finals(f"sqlite:///{db}"), sub.finals(),
           sub.events("plate.preview"), events(tmp_path / "events.jsonl", "plate.final"),
           counted=s["events"]["plate.final"]).check()
    assert s["sinks"]["sql"]["spool_dropped"] == 0 and s["sinks"]["sql"]["memory_events"] == 0
    assert err.count("cannot persist the spool's ack file") <= 1  # once per streak
