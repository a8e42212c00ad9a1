"""Lists in SQL, the stage's events through the real SQL sink (SQLite and PostgreSQL), and the
visit state surviving a restart and a database outage."""
from __future__ import annotations

import dataclasses
import io
import uuid
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sinks"))

from helpers_sinks import T0, database_down, make_event, returns  # noqa: E402

from alprd.config import AppConfig, SqlSinkConfig  # noqa: E402
from alprd.parking import lists  # noqa: E402
from alprd.parking.service import build_stage, stop_stage  # noqa: E402
from alprd.parking.store import find_visits, occupancy  # noqa: E402
from alprd.sinks import schema  # noqa: E402
from alprd.sinks.db_url import make_engine  # noqa: E402
from alprd.sinks.sql import SqlSink  # noqa: E402


@pytest.fixture
def engine(db):
    eng = make_engine(db.url)
    schema.upgrade(eng)
    yield eng
    eng.dispose()


def app(db, tmp_path) -> AppConfig:
    return AppConfig.model_validate({
        "cameras": [{"id": "in", "url": "a.mp4", "parking": {"role": "entry", "site": "lot"}},
                    {"id": "out", "url": "b.mp4", "parking": {"role": "exit", "site": "lot"}}],
        "sinks": {"sql": {"url": db.url, "flush_interval_s": 0.05}},
        "storage": {"state_dir": str(tmp_path / "state")}})


def sink(db, tmp_path, **kw) -> SqlSink:
    return SqlSink(SqlSinkConfig(url=db.url, flush_interval_s=0.05, retry_max_s=0.2), tmp_path / "spool",
                   fsync=False, **kw)


def rows(engine, table) -> list[dict]:
    with engine.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(table).order_by(table.c.id))]


def test_lists_edit_import_export_and_errors(engine):
    lists.create_list(engine, "residents", "allow", 0.8, ["in"])
    lists.add_entry(engine, "residents", "皖a-12345", "flat 3")
    v1 = lists.lists_version(engine)
    n = lists.import_csv(engine, "residents", io.StringIO(
        "plate,label,valid_until\n皖B22222,flat 4,2027-01-01\n\n皖C33333,,\n"), "r.csv")
    assert n == 2 and lists.lists_version(engine) != v1
    [pl] = lists.load_lists(engine)
    assert (pl.kind, pl.cameras, [e.plate for e in pl.entries]) == ("allow", ("in",), ["皖A12345", "皖B22222", "皖C33333"])
    assert pl.entries[1].valid_until.year == 2027
    text = lists.export_csv(engine, "residents")
    assert text.splitlines()[0] == "plate,label,valid_from,valid_until,note" and "皖A12345,flat 3" in text
    with pytest.raises(lists.ListError, match=r"r\.csv:3: valid_until: 'soon' is not an ISO 8601 time"):
        lists.import_csv(engine, "residents", io.StringIO("plate,valid_until\n皖D1,\n皖D2,soon\n"), "r.csv")
    assert len(lists.get_list(engine, "residents").entries) == 3  # nothing half-imported
    with pytest.raises(lists.ListError, match=r"r\.csv:2: 3 fields, the header has 2"):
        lists.import_csv(engine, "residents", io.StringIO("plate,label\n皖D1,a,b\n"), "r.csv")
    with pytest.raises(lists.ListError, match=r"unknown list 'nope' \(lists: residents\)"):
        lists.add_entry(engine, "nope", "皖A1")
    with pytest.raises(lists.ListError, match="has no plate"):
        lists.remove_entry(engine, "residents", "皖Z99999")
    lists.remove_entry(engine, "residents", "皖A12345")
    cache = lists.ListCache(engine)
    assert cache.refresh() and not cache.refresh()             # unchanged: no reload
    lists.add_entry(engine, "residents", "皖E55555")
    assert cache.refresh() and len(cache.lists[0].entries) == 3


def test_matches_and_visits_go_to_sql_once(db, engine, tmp_path):
    lists.create_list(engine, "banned", "deny", 0.8)
    lists.add_entry(engine, "banned", "京B66666", "stolen")
    cfg = app(db, tmp_path)
    s = sink(db, tmp_path)
    stage = build_stage(cfg, cfg.cameras, [s])
    try:
        derived = []

        def publish(ev):
            s.publish(ev)
            for d in stage.process(ev):
                derived.append(d)
                s.publish(d)

        pre = make_event("京B66666", "in", kind="plate.preview", at=T0)
        publish(pre)
        publish(dataclasses.replace(pre, kind="plate.final", event_id=str(uuid.uuid4())))  # same vehicle
        assert [d.kind for d in derived] == ["plate.match", "visit.open"]  # one match per vehicle and list
        publish(make_event("皖A10345", "in", at=T0 + timedelta(seconds=30), track_id=2))
        publish(make_event("皖A1D345", "out", at=T0 + timedelta(minutes=95), track_id=1))  # 0 read as D
        assert returns(s.flush, 10)
        [m] = rows(engine, schema.plate_matches)
        assert (m["list_name"], m["entry_plate"], m["read"], m["distance"], m["source_kind"]) == \
            ("banned", "京B66666", "京B66666", 0.0, "plate.preview")
        vis = find_visits(engine)
        assert [(v["plate"], v["status"], v["outcome"], v["dwell_s"]) for v in vis] == [
            ("皖A10345", "closed", "exited", 95 * 60 - 30),
            ("京B66666", "open", None, None)]
        assert occupancy(engine) == {"lot": 1} and stage.occupancy == {"lot": 1}
        s.close()
        stop_stage(stage)
        s = sink(db, tmp_path)  # a restart, database up: the car inside comes from SQL
        stage = build_stage(cfg, cfg.cameras, [s])
        assert stage.occupancy == {"lot": 1}
        match, closed = stage.process(make_event("京B66666", "out", at=T0 + timedelta(hours=2), track_id=3))
        assert match.kind == "plate.match" and match.camera_id == "out"  # banned is not scoped
        assert closed.outcome == "exited" and closed.visit_id == str(vis[1]["visit_id"])
    finally:
        s.close()
        stop_stage(stage)


def test_visit_state_survives_a_restart_during_a_database_outage(db, engine, tmp_path):
    cfg = app(db, tmp_path)
    s = sink(db, tmp_path)
    stage = build_stage(cfg, cfg.cameras, [s])
    try:
        with database_down(db):
            entry = make_event("皖A10345", "in", at=T0)
            s.publish(entry)
            [opened] = stage.process(entry)
            s.publish(opened)
            s.close(timeout=0.5)          # "killed": the visit.open waits in the spool
            stop_stage(stage)
            s = sink(db, tmp_path)        # the restarted daemon, database still down
            stage = build_stage(cfg, cfg.cameras, [s])
            assert stage.occupancy == {"lot": 1}
            exit_ = make_event("皖A10345", "out", at=T0 + timedelta(minutes=7))
            [closed] = stage.process(exit_)
            assert closed.visit_id == opened.visit_id and closed.dwell_s == 420
            s.publish(exit_)
            s.publish(closed)
        assert returns(s.flush, 20)
        [v] = find_visits(engine)
        assert (v["status"], v["outcome"], v["dwell_s"]) == ("closed", "exited", 420)
        s.close()
        stop_stage(stage)
        s = sink(db, tmp_path)            # and a restart with the database up: state from SQL
        stage = build_stage(cfg, cfg.cameras, [s])
        assert stage.occupancy == {"lot": 0}
    finally:
        s.close()
        stop_stage(stage)


def test_lists_copy_serves_a_start_while_the_database_is_unreachable(engine, tmp_path):
    lists.create_list(engine, "banned", "deny", 0.0, ["in"])
    lists.add_entry(engine, "banned", "京B66666", "stolen", valid_until=T0)
    copy = tmp_path / "state" / "lists.json"
    first = lists.ListCache(engine, copy_path=copy).start()
    first.stop()
    down = make_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}", create_dirs=False)  # cannot open
    second = lists.ListCache(down, copy_path=copy).start()
    try:
        assert second.lists == first.lists and second.lists[0].entries[0].valid_until == T0
    finally:
        second.stop()
        down.dispose()
