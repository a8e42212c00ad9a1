"""`alprd db upgrade|downgrade|current|purge`: manage the event database's schema and retention."""
from __future__ import annotations

import sys


def add_db_arguments(parser) -> None:
    """`-c CONFIG | --url URL`, shared by `alprd db` and `alprd query` (no heavy imports here:
    every `alprd` invocation builds all parsers)."""
    g = parser.add_mutually_exclusive_group()
    g.add_argument("-c", "--config", metavar="CONFIG",
                   help="read sinks.sql (URL and password source) from this config file "
                        "(default: /etc/alprd/alprd.yaml if it exists, else the embedded default: "
                        "sqlite:///var/alprd.db, as `alprd run` uses)")
    g.add_argument("--url", metavar="URL",
                   help="database URL (default: sinks.sql.url of the config); put no password "
                        "in it: use libpq's PGPASSWORD or the config's password_env/password_file")


def add_parser(sub) -> None:
    p = sub.add_parser("db", help="create/upgrade the event database, show its revision, purge")
    acts = p.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    up = acts.add_parser("upgrade", help="migrate the schema up (default: to the latest)")
    up.add_argument("revision", nargs="?", default="head")
    down = acts.add_parser("downgrade", help="migrate the schema down (default: one step; "
                                             "'base' drops every alprd table and its data)")
    down.add_argument("revision", nargs="?", default="-1")
    acts.add_parser("current", help="print the schema revision and whether it is the latest")
    purge = acts.add_parser("purge", help="delete events (and their crops) older than an age")
    purge.add_argument("--older-than", required=True, metavar="AGE",
                       help="e.g. 30d, 12h, or an ISO 8601 time")
    purge.add_argument("--crop-root", metavar="DIR",
                       help="delete crop files of purged events found under DIR (storage.state_dir)")
    for a in (up, down, acts.choices["current"], purge):
        add_db_arguments(a)
    p.set_defaults(func=run)


def run(args) -> int:
    from alprd.config import ConfigError
    from alprd.sinks import schema
    from alprd.sinks.db_url import DbUrlError, cli_url, make_engine, mask_url, sqlite_path

    try:
        url = cli_url(args.config, args.url)
    except (ConfigError, DbUrlError) as exc:
        for line in str(exc).splitlines():
            print(f"alprd db: {line}", file=sys.stderr)
        return 2
    path = sqlite_path(url)
    if args.db_action != "upgrade" and path is not None and not path.exists():
        # only `upgrade` creates a database: the others would leave an empty file behind that
        # `query` then mistakes for the daemon's (a second, empty database)
        print(f"alprd db {args.db_action}: no database at {path} (start the daemon, or create it "
              "with `alprd db upgrade`)", file=sys.stderr)
        return 1
    from alprd.service.private import restrict_umask

    restrict_umask()  # a SQLite file it creates holds plates: owner-only (SECURITY.md)
    engine = make_engine(url)
    where = mask_url(url)
    try:
        if args.db_action == "current":
            rev, head, _ = schema.schema_state(engine)
            state = "up to date" if rev == head else f"needs `alprd db upgrade` to {head}"
            print(f"{where}: {rev or 'no alprd schema'} ({state})")
            return 0 if rev == head else 1
        if args.db_action == "upgrade":
            schema.upgrade(engine, args.revision)
        elif args.db_action == "downgrade":
            schema.downgrade(engine, args.revision)
        elif args.db_action == "purge":
            return _purge(engine, args)
        rev, _, _ = schema.schema_state(engine)
        print(f"{where}: now at {rev or 'base (no alprd tables)'}")
        return 0
    except schema.DatabaseUnavailable as exc:
        print(f"alprd db: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # alembic / driver errors: one line, password masked
        from alprd.sinks.db_url import redact

        msg = redact(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], url)
        print(f"alprd db {args.db_action}: {where}: {msg}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _purge(engine, args) -> int:
    from alprd.sinks import schema
    from alprd.sinks.sql import purge
    from alprd.sinks.sql_query import parse_time

    try:
        cutoff = parse_time(args.older_than)
    except ValueError as exc:
        print(f"alprd db purge: --older-than: {exc}", file=sys.stderr)
        return 2
    schema.check_schema_current(engine)
    n = purge(engine, cutoff, args.crop_root)
    print(f"purged {n} rows last seen before {cutoff.isoformat()}")
    return 0
