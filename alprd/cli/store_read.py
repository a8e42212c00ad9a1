"""Reading the event store for a read-only command (`query`, `visits`): one way to find the
configured database, refuse to create it, check its schema and turn every failure into a line.

Why one place: a read-only command must never create a database, and its errors (no file, an old
schema, the server down) must read the same whichever command met them, with passwords masked.
"""
from __future__ import annotations

import sys
from typing import Callable, TypeVar

T = TypeVar("T")


def fail(command: str, msg: str, code: int) -> int:
    """Each line of `msg` as `alprd COMMAND: line` on stderr; returns `code`."""
    for line in str(msg).splitlines() or [""]:
        print(f"alprd {command}: {line}", file=sys.stderr)
    return code


def read_store(args, command: str, read: Callable[[object], T]) -> tuple[T | None, int]:
    """`read(engine)` on the database of `args.config` / `args.url`: (its result, 0), or
    (None, exit code) once the reason was printed (2: bad config or URL, 1: no usable database)."""
    from alprd.config import ConfigError
    from alprd.sinks import schema
    from alprd.sinks.db_url import DbUrlError, cli_url, make_engine, mask_url, redact, sqlite_path

    try:
        url = cli_url(args.config, args.url)
    except (ConfigError, DbUrlError) as exc:
        return None, fail(command, str(exc), 2)
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None, fail(command, f"no database at {path} (start the daemon or run `alprd db upgrade`)", 1)
    engine = make_engine(url, create_dirs=False)
    try:
        schema.check_schema_current(engine)
        return read(engine), 0
    except (schema.SchemaError, schema.DatabaseUnavailable) as exc:
        return None, fail(command, str(exc), 1)
    except Exception as exc:  # driver errors: one line, password masked
        msg = redact(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], url)
        return None, fail(command, f"{mask_url(url)}: {msg}", 1)
    finally:
        engine.dispose()
