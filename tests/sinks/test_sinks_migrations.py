"""Alembic revisions on both dialects, the start-up schema policy, `alprd db`, password masking."""
from __future__ import annotations

import sqlalchemy as sa
import pytest

from alprd.cli import main
from alprd.config import SqlSinkConfig
from alprd.sinks import schema
from alprd.sinks.db_url import DbUrlError, make_engine, mask_url, parse_url, redact, url_from_config

TABLES = {"cameras", "plate_events", "plate_reads"}


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) & TABLES


def test_upgrade_empty_then_downgrade_cleanly(db):
    engine = make_engine(db.url)
    try:
        assert schema.schema_state(engine) == (None, schema.head_revision(), True)
        schema.upgrade(engine)
        assert _tables(engine) == TABLES
        schema.check_schema_current(engine)
        insp = sa.inspect(engine)
        indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("plate_events")}
        assert indexes["ix_plate_events_plate"] == ["plate"]
        assert indexes["ix_plate_events_camera_id_last_seen"] == ["camera_id", "last_seen"]
        schema.downgrade(engine, "base")
        assert _tables(engine) == set()
        assert schema.schema_state(engine)[0] is None
        schema.upgrade(engine)  # and up again from base
        assert _tables(engine) == TABLES
    finally:
        engine.dispose()


def test_migration_matches_the_tables_the_code_uses(db):
    """The frozen revision and schema.py must describe the same schema (alembic autogenerate)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(db.url)
    try:
        schema.upgrade(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"version_table": schema.VERSION_TABLE,
                                                         "compare_type": True})
            diff = [d for d in compare_metadata(ctx, schema.metadata)
                    if not (isinstance(d, tuple) and d[0] == "remove_table"
                            and d[1].name == schema.VERSION_TABLE)]
        assert diff == []
    finally:
        engine.dispose()


def test_check_schema_current_names_the_upgrade_command(db):
    engine = make_engine(db.url)
    try:
        with pytest.raises(schema.SchemaError, match="alprd db upgrade"):
            schema.check_schema_current(engine)
        if db.dialect == "sqlite":  # the embedded default: created on first start
            assert schema.prepare_database(engine) == "created"
        else:  # a server database is the operator's: refuse
            with pytest.raises(schema.SchemaError, match="alprd db upgrade"):
                schema.prepare_database(engine)
            schema.upgrade(engine)
        assert schema.prepare_database(engine) == "current"
        schema.downgrade(engine, "base")  # an out-of-date, non-empty database is never auto-migrated
        with pytest.raises(schema.SchemaError, match="alprd db upgrade"):
            schema.prepare_database(engine)
    finally:
        engine.dispose()


def test_db_cli_upgrade_current_downgrade(db, capsys):
    assert main(["db", "current", "--url", db.url]) == 1
    first = capsys.readouterr()
    # SQLite: no file yet, an error line on stderr (and no file made); a server: its revision report
    assert "alprd db upgrade" in (first.err if db.dialect == "sqlite" else first.out)
    assert main(["db", "upgrade", "--url", db.url]) == 0
    assert main(["db", "current", "--url", db.url]) == 0
    out = capsys.readouterr().out
    assert "up to date" in out
    if db.server is not None:
        assert db.server.password not in out
    assert main(["db", "downgrade", "base", "--url", db.url]) == 0
    assert "base" in capsys.readouterr().out


def test_db_cli_reads_the_config_and_its_password_env(pg_server, tmp_path, monkeypatch, capsys):
    url = pg_server.create_database()
    (tmp_path / "alprd.yaml").write_text(
        "cameras: [{id: gate1, url: rtsp://cam/1}]\n"
        f"sinks:\n  sql:\n    url: {url.replace(':' + pg_server.password + '@', '@')}\n"
        "    password_env: ALPRD_TEST_PW\n")
    monkeypatch.setenv("ALPRD_TEST_PW", pg_server.password)
    assert main(["db", "upgrade", "-c", str(tmp_path / "alprd.yaml")]) == 0
    monkeypatch.setenv("ALPRD_TEST_PW", "wrong-" + pg_server.password)
    assert main(["db", "current", "-c", str(tmp_path / "alprd.yaml")]) == 1
    captured = capsys.readouterr()
    assert "password authentication failed" in captured.err
    assert pg_server.password not in captured.out + captured.err


def test_unreachable_server_is_reported_masked(capsys):
    assert main(["db", "current", "--url", "postgresql://alprd:s3cr3t-pw@127.0.0.1:9/alprd"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach database" in err and "***" in err and "s3cr3t-pw" not in err


def test_password_sources_and_masking(tmp_path, monkeypatch):
    (tmp_path / "pw").write_text("from-file\n")
    cfg = SqlSinkConfig(url="postgresql://alprd@db.example/alprd", password_file=str(tmp_path / "pw"))
    u = url_from_config(cfg)
    assert u.password == "from-file"
    assert "from-file" not in mask_url(u) and "***" in mask_url(u)
    monkeypatch.setenv("PW_VAR", "from-env")
    assert url_from_config(SqlSinkConfig(url=cfg.url, password_env="PW_VAR")).password == "from-env"
    with pytest.raises(DbUrlError, match="NOT_SET_VAR"):
        url_from_config(SqlSinkConfig(url=cfg.url, password_env="NOT_SET_VAR"))
    assert mask_url("postgresql://a:hunter2@h/d") == "postgresql://a:***@h/d"
    assert "hunter2" not in redact("failed for postgresql://a:hunter2@h/d (hunter2)",
                                   parse_url("postgresql://a:hunter2@h/d"))
    with pytest.raises(DbUrlError):
        parse_url("not a url at all")
