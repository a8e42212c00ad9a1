"""Fixtures of the sink tests: an empty database per test, on each dialect."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from pg import PgServer, pg_server  # noqa: F401  (fixture)


@dataclass
class Db:
    dialect: str
    url: str
    server: PgServer | None = None  # the PostgreSQL server, to stop/start it


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Db:
    """An empty database of each dialect (a fresh SQLite file / a fresh PostgreSQL database)."""
    if request.param == "sqlite":
        return Db("sqlite", f"sqlite:///{tmp_path / 'events.db'}")
    server = request.getfixturevalue("pg_server")
    if not server.running():  # a failed outage test must not take the others down
        server.start()
    return Db("postgresql", server.create_database(), server)
