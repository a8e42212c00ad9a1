"""Fixtures of the parking tests: an empty database per test, on each dialect (as tests/sinks)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from pg import PgServer, pg_server  # noqa: F401  (fixture)


@dataclass
class Db:
    dialect: str
    url: str
    server: PgServer | None = None


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> Db:
    if request.param == "sqlite":
        return Db("sqlite", f"sqlite:///{tmp_path / 'alprd.db'}")
    server = request.getfixturevalue("pg_server")
    if not server.running():
        server.start()
    return Db("postgresql", server.create_database(), server)
