"""Markers by where a test lives and what it needs (registered in pyproject.toml), so that
`pytest -m "not slow"` runs the fast tests alone (scripts/check). Fixtures live in tests/conftest.py."""
from __future__ import annotations

import pytest

# Folders whose tests run daemons, servers or training for many seconds each.
SLOW_DIRS = {"chaos", "e2e", "perf", "benchmarks", "training"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by them
def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = item.path.relative_to(config.rootpath).parts
        if len(parts) > 2 and parts[0] == "tests" and parts[1] in SLOW_DIRS:
            item.add_marker(pytest.mark.slow)
        if "pg_server" in getattr(item, "fixturenames", ()) or "[postgresql" in item.nodeid:
            item.add_marker(pytest.mark.postgres)
            item.add_marker(pytest.mark.slow)
