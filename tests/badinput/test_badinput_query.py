"""`alprd query --plate` patterns are data, not SQL: fuzzed against a reference matcher on SQLite
(GLOB) and PostgreSQL (LIKE ... ESCAPE), over plates full of SQL syntax (quotes, %, _, \\, [ ],
comment and statement markers). Only * (any run) and ? (one character) are wildcards; whatever
else a pattern holds must match itself and nothing else, and no pattern may fail or touch
another table. Two real CLI runs close the loop; times at the ends of the calendar (issue 18 item
12) are answered, not a traceback."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg import pg_server  # noqa: F401  (fixture)

from alprd.events import PlateEvent
from alprd.sinks import schema
from alprd.sinks.db_url import make_engine
from alprd.sinks.sql_query import find_events

ALPHABET = "AB1%_'\"\\[]^-;*? 粤"
PLATES = ["AB1", "A%1", "A_1", "A'1", "A''1", 'A"1', "A\\1", "A[B]1", "A[!B]1", "A^1", "A-1", "A;1",
          "A1;DROP TABLE PLATE_EVENTS;--", "' OR '1'='1", "%", "_", "\\", "*", "?", "A*1", "A?1",
          "粤B1", "A 1", "[", "]", "A]1", "a%1"]
PATTERN = st.text(alphabet=ALPHABET, min_size=1, max_size=8)


def reference(pattern: str, plates: list[str]) -> list[str]:
    rx = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern),
                    re.DOTALL)
    return sorted(p for p in plates if rx.fullmatch(p))


def _store(url: str) -> sa.Engine:
    engine = make_engine(url)
    schema.upgrade(engine)
    t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
    rows = []
    for i, plate in enumerate(PLATES):
        ev = PlateEvent("plate.final", "gate", i + 1, plate, 0.9, t0, t0 + timedelta(seconds=i), 3)
        rows.append(dict(event_id=ev.event_id, camera_id="gate", track_id=i + 1, plate=plate, confidence=0.9,
                         alternatives=[], reads=3, first_seen=ev.first_seen, last_seen=ev.last_seen,
                         direction="unknown", parked=False, crop_path=None, corners=None,
                         schema_version=1))
    with engine.begin() as conn:
        conn.execute(sa.insert(schema.cameras), [dict(camera_id="gate", host="test", created_at=t0)])
        conn.execute(sa.insert(schema.plate_events), rows)
    return engine


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stored(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('query') / 'q.db'}"
    else:
        server = request.getfixturevalue("pg_server")
        if not server.running():
            server.start()
        url = server.create_database()
    engine = _store(url)
    yield url, engine
    engine.dispose()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pattern=PATTERN)
def test_fuzzed_patterns_match_like_the_reference(stored, pattern):
    _, engine = stored
    got = sorted(e.plate for e in find_events(engine, plate=pattern, limit=None))
    assert got == reference(pattern, PLATES), pattern
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.plate_events)).scalar() == len(PLATES)


@pytest.mark.parametrize("pattern, expected", [
    ("A1;DROP TABLE PLATE_EVENTS;--", ["A1;DROP TABLE PLATE_EVENTS;--"]),
    ("' OR '1'='1", ["' OR '1'='1"]),
    ("%", ["%"]),
    ("A[B]1", ["A[B]1"]),
    ("a%1", ["A%1"]),  # the CLI upper-cases the pattern: plates are upper case
])
def test_the_cli_treats_the_pattern_as_data(stored, pattern, expected, capsys):
    from alprd.cli import main

    url, engine = stored
    assert main(["query", "--url", url, "--json", "--plate", pattern]) == 0
    got = sorted(PlateEvent.from_json(line).plate for line in capsys.readouterr().out.splitlines())
    assert got == expected
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.plate_events)).scalar() == len(PLATES)


@pytest.mark.parametrize("since, until, found", [
    ("999999999d", "9999-12-31T23:59:59", len(PLATES)), ("99999999999999999999w", None, len(PLATES)),
    ("0001-01-01T00:00-05:00", "9999-12-31T23:59:59+05:00", len(PLATES)), ("9999-12-31T23:59:59+05:00", None, 0)])
def test_times_at_the_ends_of_the_calendar_are_answered_not_a_traceback(stored, since, until, found, capsys):
    """Issue 18 item 12: `--since 999999999d` and dates near year 1 or 9999 overflowed datetime."""
    from alprd.cli import main

    url, _ = stored
    assert main(["query", "--url", url, "--json", "--since", since, *(["--until", until] if until else [])]) == 0
    assert len(capsys.readouterr().out.splitlines()) == found
