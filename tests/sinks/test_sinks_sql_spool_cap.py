"""A long database outage must not fill the disk: the spool stops at sinks.sql.spool_max_mb."""
from __future__ import annotations

import logging

from helpers_sinks import database_down, make_event

from alprd.config import SqlSinkConfig
from alprd.sinks import schema
from alprd.sinks.db_url import make_engine
from alprd.sinks.sql import SqlSink


def test_the_spool_stops_growing_at_its_cap_and_takes_events_again_once_drained(db, tmp_path, caplog):
    one = len(make_event("AAA000", track_id=0).to_json()) + 1
    cap_mb = 10.5 * one / 1e6                      # room for 11 records, not 12
    cfg = SqlSinkConfig(url=db.url, batch_size=16, flush_interval_s=0.02, retry_max_s=0.3,
                        busy_timeout_s=0.2, spool_max_mb=cap_mb)
    engine = make_engine(db.url, busy_timeout_s=cfg.busy_timeout_s, connect_timeout_s=2)
    if db.dialect == "postgresql":
        schema.upgrade(engine)
    sink = SqlSink(cfg, tmp_path / "spool", engine=engine)
    caplog.set_level(logging.INFO, logger="alprd.sinks.sql")
    with database_down(db):
        events = [make_event(f"AAA{i:03d}", track_id=i) for i in range(20)]
        for ev in events:
            sink.publish(ev)
        assert sink.spool.appended_records == 11 and sink.dropped == 9
        assert sink.spool.pending_bytes() <= cap_mb * 1e6 + one
        full = [r for r in caplog.records if "spool_max_mb" in r.getMessage()]
        assert len(full) == 1 and full[0].levelno == logging.ERROR   # once per streak, not per event
    assert sink.flush(timeout=120)                  # the database is back: the spool drains
    late = make_event("BBB000", track_id=99)
    sink.publish(late)
    assert sink.flush(timeout=120) and sink.dropped == 9
    with engine.connect() as conn:
        stored = {r[0] for r in conn.execute(schema.plate_events.select().with_only_columns(
            schema.plate_events.c.plate))}
    assert stored == {e.plate for e in events[:11]} | {"BBB000"}
    assert any("spooling works again" in r.getMessage() for r in caplog.records)
    sink.close()
