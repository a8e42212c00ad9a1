"""Stopping while the database is down: flush() tries once more and gives up at once instead of
waiting out its timeout (a daemon's orderly stop used to take 35 s with PostgreSQL down); what
is left stays in the spool, close() says so, and the next start writes it."""
from __future__ import annotations

import logging

from helpers_sinks import database_down, make_event, returns
from waiting import wait_until

from alprd.config import SqlSinkConfig
from alprd.sinks import schema
from alprd.sinks.db_url import make_engine
from alprd.sinks.sql import SqlSink


def _sink(db, tmp_path) -> SqlSink:
    cfg = SqlSinkConfig(url=db.url, flush_interval_s=0.05, busy_timeout_s=0.5, retry_max_s=30)
    engine = make_engine(db.url, busy_timeout_s=cfg.busy_timeout_s, connect_timeout_s=2)
    if db.dialect == "postgresql":
        schema.upgrade(engine)
    return SqlSink(cfg, tmp_path / "spool", engine=engine)


def test_flush_gives_up_promptly_while_the_database_is_down(db, tmp_path, caplog):
    sink = _sink(db, tmp_path)
    sink.publish(make_event("AAA001"))
    assert sink.flush(timeout=120)
    with database_down(db):
        evs = [make_event(f"BBB{i:03d}", track_id=10 + i) for i in range(5)]
        for ev in evs:
            sink.publish(ev)
        assert wait_until(lambda: not sink.available)  # the writer failed and backs off
        # An hour of timeout, and the database stays down until this block ends: flush() and
        # close() come back only because they give up after one more failed try.
        assert returns(sink.flush, timeout=3600) is False, "flush waited for a database that is down"
        assert sink.pending()
        caplog.set_level(logging.WARNING, logger="alprd.sinks.sql")
        returns(sink.close, timeout=3600)
        assert "stay spooled" in caplog.text
    again = _sink(db, tmp_path)
    assert again.flush(timeout=120)
    with again.engine.connect() as conn:
        import sqlalchemy as sa

        plates = sorted(r[0] for r in conn.execute(sa.select(schema.plate_events.c.plate)))
    assert plates == ["AAA001"] + [f"BBB{i:03d}" for i in range(5)]
    again.close()
