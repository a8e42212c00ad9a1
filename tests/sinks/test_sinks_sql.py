"""SqlSink against real SQLite and PostgreSQL: storing, finding, outages, replays, bad records."""
from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from helpers_sinks import T0, database_down, make_event, returns
from waiting import wait_until

from alprd.config import SqlSinkConfig
from alprd.events import Alternative
from alprd.sinks import schema
from alprd.sinks.db_url import make_engine
from alprd.sinks.sql import SqlSink, purge
from alprd.sinks.sql_query import find_events

FAST = dict(batch_size=16, flush_interval_s=0.02, retry_max_s=0.3, busy_timeout_s=0.2)


def _sink(db, tmp_path, **kw) -> SqlSink:
    cfg = SqlSinkConfig(url=db.url, **{**FAST, **kw})
    engine = make_engine(db.url, busy_timeout_s=cfg.busy_timeout_s, connect_timeout_s=2)
    if db.dialect == "postgresql":
        schema.upgrade(engine)  # the operator's step; SQLite gets it automatically
    return SqlSink(cfg, tmp_path / "spool", engine=engine, crop_root=tmp_path / "state")


def _event_ids(engine, table=schema.plate_events) -> list[str]:
    with engine.connect() as conn:
        return [str(r[0]) for r in conn.execute(sa.select(table.c.event_id))]


def test_stores_finals_and_finds_them_by_plate_camera_and_time(db, tmp_path):
    sink = _sink(db, tmp_path)
    events = [
        make_event("ABC123", "gate1", at=T0),
        make_event("ABC999", "gate1", at=T0 + timedelta(minutes=5), track_id=2),
        make_event("XBC123", "gate2", at=T0 + timedelta(hours=2), track_id=3, parked=True,
                   crop_path="crops/gate2/3.jpg", alternatives=(), corners=None),
        make_event("皖A12345", "gate2", at=T0 + timedelta(days=1), track_id=4),
    ]
    preview = make_event("ABC12", "gate1", kind="plate.preview", track_id=9)
    sink.publish(preview)
    for ev in events:
        sink.publish(ev)
    assert sink.flush(timeout=120)
    e = sink.engine
    assert sorted(_event_ids(e)) == sorted(ev.event_id for ev in events)  # previews not stored

    def plates(**f):
        return sorted(ev.plate for ev in find_events(e, **f))

    assert find_events(e, plate="ABC123") == [events[0]]  # round-trips to the same PlateEvent
    assert plates(plate="ABC*") == ["ABC123", "ABC999"]
    assert plates(plate="?BC123") == ["ABC123", "XBC123"]
    assert plates(plate="*12*") == ["ABC123", "XBC123", "皖A12345"]
    assert plates(plate="皖A*") == ["皖A12345"]
    assert plates(plate="abc*") == []  # stored plates are upper case; the CLI upper-cases input
    assert plates(camera="gate2") == ["XBC123", "皖A12345"]
    assert plates(since=T0 + timedelta(minutes=1), until=T0 + timedelta(hours=3)) == ["ABC999", "XBC123"]
    assert plates(camera="gate1", since=T0 + timedelta(minutes=1)) == ["ABC999"]
    newest = find_events(e, limit=2)
    assert [ev.plate for ev in newest] == ["皖A12345", "XBC123"]
    assert newest[1].parked and newest[1].crop_path == "crops/gate2/3.jpg"
    assert newest[0].last_seen.tzinfo is not None
    if db.dialect == "sqlite":  # readers (alprd query) never block the writer
        with e.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
    sink.close()


def test_store_reads_logs_previews_too(db, tmp_path):
    sink = _sink(db, tmp_path, store_reads=True)
    evs = [make_event("ABC12", kind="plate.preview"), make_event("ABC123", kind="plate.preview"),
           make_event("ABC123")]
    for ev in evs:
        sink.publish(ev)
    assert sink.flush(timeout=120)
    assert sorted(_event_ids(sink.engine, schema.plate_reads)) == sorted(ev.event_id for ev in evs)
    assert _event_ids(sink.engine) == [evs[2].event_id]
    sink.close()


def test_database_outage_spools_and_replays_exactly_once(db, tmp_path, caplog):
    sink = _sink(db, tmp_path)
    first = [make_event(f"AAA{i:03d}", track_id=i) for i in range(5)]
    for ev in first:
        sink.publish(ev)
    assert sink.flush(timeout=120)

    # the outage: PostgreSQL goes away; SQLite stays locked by another writer
    with database_down(db):
        during = [make_event(f"BBB{i:03d}", track_id=100 + i) for i in range(40)]
        caplog.set_level(logging.INFO, logger="alprd.sinks.sql")
        appended = sink.spool.appended_records

        def publish_all():
            for ev in during:
                sink.publish(ev)

        returns(publish_all)  # while the database is down: publish() never waits for it
        assert sink.spool.appended_records == appended + len(during)  # all in the spool
        assert not sink.flush(timeout=1.5)
        assert sink.pending() and not sink.available
    assert sink.flush(timeout=120)
    ids = _event_ids(sink.engine)
    assert sorted(ids) == sorted(ev.event_id for ev in first + during)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "spooling" in warnings[0].getMessage()  # once per state change
    assert any("is back" in r.getMessage() for r in caplog.records)
    if db.server is not None:
        assert all(db.server.password not in r.getMessage() for r in caplog.records)
    sink.close()


def test_events_still_spooled_at_close_are_written_by_the_next_start(db, tmp_path):
    sink = _sink(db, tmp_path)
    with database_down(db):
        evs = [make_event(f"CCC{i:03d}", track_id=i) for i in range(10)]
        for ev in evs:
            sink.publish(ev)
        sink.close(timeout=0.5)  # the database is down: close gives up, the spool keeps them
    sink = _sink(db, tmp_path)  # replays the spool on start
    assert sink.flush(timeout=120)
    assert sorted(_event_ids(sink.engine)) == sorted(ev.event_id for ev in evs)
    sink.close()


def test_replaying_already_committed_events_inserts_nothing_twice(db, tmp_path):
    sink = _sink(db, tmp_path)
    evs = [make_event(f"DDD{i:03d}", track_id=i) for i in range(30)]
    for ev in evs:
        sink.publish(ev)
    assert sink.flush(timeout=120)
    sink.close()
    ack = tmp_path / "spool" / "ack.json"
    seg = min(int(p.stem[4:]) for p in (tmp_path / "spool").glob("seg-*.jsonl"))
    ack.write_text(json.dumps({"segment": seg, "offset": 0}))  # crashed after COMMIT, before the ack
    sink = _sink(db, tmp_path)
    assert sink.flush(timeout=120)
    ids = _event_ids(sink.engine)
    assert len(ids) == len(set(ids)) == 30
    sink.close()


def test_bad_records_are_set_aside_and_do_not_block_the_queue(db, tmp_path):
    sink = _sink(db, tmp_path)
    good1, good2 = make_event("GOOD1"), make_event("GOOD2", track_id=2)
    bad = make_event("BAD", event_id="not-a-uuid")
    batch = [good1, bad, good2]
    if db.dialect == "postgresql":  # refused by the server itself (JSON has no NaN)
        batch.append(make_event("NAN", alternatives=(Alternative("X", float("nan")),)))
    for ev in batch:
        sink.publish(ev)
    assert sink.flush(timeout=120)
    assert sorted(_event_ids(sink.engine)) == sorted([good1.event_id, good2.event_id])
    rejected = [json.loads(line) for line in (tmp_path / "spool" / "rejected.jsonl").read_text().splitlines()]
    assert len(rejected) == len(batch) - 2 == sink.rejected
    assert json.loads(rejected[0]["record"])["event_id"] == "not-a-uuid"
    sink.close()


def test_purge_deletes_old_rows_and_their_crops_inside_the_crop_root(db, tmp_path):
    root = tmp_path / "state"
    (root / "crops").mkdir(parents=True)
    outside = tmp_path / "elsewhere.jpg"
    for p in (root / "crops" / "old.jpg", root / "crops" / "new.jpg", outside):
        p.write_bytes(b"jpeg")
    sink = _sink(db, tmp_path, store_reads=True)
    old = make_event("OLD1", at=T0 - timedelta(days=10), crop_path=str(root / "crops" / "old.jpg"))
    old_abroad = make_event("OLD2", at=T0 - timedelta(days=10), crop_path=str(outside))
    new = make_event("NEW1", at=T0, crop_path="crops/new.jpg")
    for ev in (old, old_abroad, new):
        sink.publish(ev)
    assert sink.flush(timeout=120)
    assert sink.purge(T0 - timedelta(days=1)) == 4  # 2 events + their 2 plate_reads rows
    assert _event_ids(sink.engine) == [new.event_id]
    assert not (root / "crops" / "old.jpg").exists()
    assert (root / "crops" / "new.jpg").exists() and outside.exists()
    assert purge(sink.engine, T0 - timedelta(days=1), root) == 0
    sink.close()


def test_plate_lookups_use_the_plate_index(db, tmp_path):
    from alprd.sinks.sql_query import select_events

    engine = make_engine(db.url)
    schema.upgrade(engine)
    with engine.connect() as conn:
        for pattern in ("ABC123", "ABC*"):
            q = select_events(engine.dialect.name, plate=pattern)
            sql = str(q.compile(engine, compile_kwargs={"literal_binds": True}))
            if db.dialect == "sqlite":
                plan = " ".join(str(r) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            else:
                conn.exec_driver_sql("SET enable_seqscan = off")
                plan = " ".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
            assert "ix_plate_events_plate" in plan, (pattern, plan)
    engine.dispose()


def test_a_camera_id_reported_by_another_host_is_warned_about(tmp_path, caplog):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.cameras).values(camera_id="gate1", host="other-host",
                                                      created_at=T0))
    caplog.set_level(logging.WARNING, logger="alprd.sinks.sql")
    sink = SqlSink(SqlSinkConfig(url=url, **FAST), tmp_path / "spool", engine=engine)
    sink.publish(make_event(camera="gate1"))
    assert sink.flush(timeout=120)
    assert any("other-host" in r.getMessage() for r in caplog.records)
    sink.close()


def test_retention_purges_in_the_writer_when_idle(tmp_path):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    SqlSink.purge_every_s, saved = 0.05, SqlSink.purge_every_s
    try:
        sink = SqlSink(SqlSinkConfig(url=url, retention_days=1, **FAST), tmp_path / "spool")
        old, new = make_event("OLD", at=T0 - timedelta(days=3)), make_event("NEW", at=schema.utcnow())
        sink.publish(old)
        sink.publish(new)
        assert sink.flush(timeout=120)
        deadline = time.monotonic() + 120
        while old.event_id in _event_ids(sink.engine) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _event_ids(sink.engine) == [new.event_id]
        sink.close()
    finally:
        SqlSink.purge_every_s = saved


def test_daemon_wiring_from_app_config(tmp_path, pg_server):
    from alprd.config import parse_config
    from alprd.sinks.base import Sink

    def app(url):
        return parse_config({"cameras": [{"id": "gate1", "url": "rtsp://cam/1"}],
                             "storage": {"state_dir": str(tmp_path / "state")},
                             "sinks": {"sql": {"url": url}}})

    sink = SqlSink.from_app_config(app(f"sqlite:///{tmp_path / 'fresh.db'}"))  # created on start
    assert isinstance(sink, Sink)
    assert sink.spool.dir == tmp_path / "state" / "spool" / "sql"
    sink.publish(make_event())
    assert sink.flush(timeout=120)
    sink.close()
    with pytest.raises(schema.SchemaError, match="alprd db upgrade"):  # a server DB is never auto-created
        SqlSink.from_app_config(app(pg_server.create_database()))


def test_a_full_batch_is_written_without_waiting_for_the_interval(tmp_path):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    engine = make_engine(url)
    schema.upgrade(engine)
    # an interval of an hour: the batch can only have been written because it was full
    sink = SqlSink(SqlSinkConfig(url=url, batch_size=5, flush_interval_s=3600), tmp_path / "spool",
                   engine=engine)
    evs = [make_event(f"B{i}", track_id=i) for i in range(5)]
    sink.publish(evs[0])
    time.sleep(0.2)  # the writer now holds a partial batch and waits for more
    for ev in evs[1:]:
        sink.publish(ev)
    assert wait_until(lambda: len(_event_ids(sink.engine)) >= 5)  # no flush(): that would force it
    assert sorted(_event_ids(sink.engine)) == sorted(ev.event_id for ev in evs)
    sink.close()
