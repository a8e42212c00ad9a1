"""Markers by where a test lives and what it needs (registered in pyproject.toml), so that
`pytest -m "not slow"` runs the fast tests alone (scripts/check). Fixtures live in tests/conftest.py."""
from __future__ import annotations

import pytest

# Folders whose tests run daemons, servers or training for many seconds each.
SLOW_DIRS = {"chaos", "e2e", "perf", "benchmarks", "training"}
# Elsewhere, a test that starts a whole daemon (names the launcher) or an RTSP server is slow too.
DAEMON_LAUNCHERS = {"DaemonProcess", "Daemon"}
SLOW_FIXTURES = {"pg_server", "rtsp_server"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by them
def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = item.path.relative_to(config.rootpath).parts
        code = getattr(getattr(item, "function", None), "__code__", None)
        names = set(code.co_names) if code is not None else set()
        fixtures = set(getattr(item, "fixturenames", ()))
        postgres = "pg_server" in fixtures or "[postgresql" in item.nodeid
        if postgres:
            item.add_marker(pytest.mark.postgres)
        if (postgres or names & DAEMON_LAUNCHERS or fixtures & SLOW_FIXTURES
                or (len(parts) > 2 and parts[0] == "tests" and parts[1] in SLOW_DIRS)):
            item.add_marker(pytest.mark.slow)
