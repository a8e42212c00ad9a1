"""`alprd plates`: manage the plate lists (allow / deny / watch) the daemon matches reads against.

The daemon re-reads the lists within parking.lists_refresh_s of a change: no restart.
Errors a user can cause (unknown list, bad plate or time, a malformed CSV line) are one line on
stderr and exit 2; a database that cannot be reached exits 1.
"""
from __future__ import annotations

import json
import sys


def add_parser(sub) -> None:
    from alprd.cli.db import add_db_arguments

    p = sub.add_parser("plates", help="manage plate lists (allow, deny, watch) for list matches")
    acts = p.add_subparsers(dest="plates_action", metavar="ACTION", required=True)
    c = acts.add_parser("create", help="create a list")
    c.add_argument("name")
    c.add_argument("--kind", required=True, choices=("allow", "deny", "watch"))
    c.add_argument("--max-distance", type=float, default=0.8, metavar="D",
                   help="fuzzy tolerance: 0 = exact; 0.8 (default) admits one character the reader "
                        "is known to confuse (docs/parking.md)")
    c.add_argument("--camera", action="append", metavar="ID", help="only for this camera (repeatable)")
    d = acts.add_parser("delete", help="delete a list and its entries")
    d.add_argument("name")
    a = acts.add_parser("add", help="add (or replace) a plate of a list")
    a.add_argument("list")
    a.add_argument("plate")
    a.add_argument("--label")
    a.add_argument("--from", dest="valid_from", metavar="T", help="valid from (ISO 8601, UTC if no offset)")
    a.add_argument("--until", dest="valid_until", metavar="T", help="valid until (exclusive)")
    a.add_argument("--note")
    r = acts.add_parser("remove", help="remove a plate from a list")
    r.add_argument("list")
    r.add_argument("plate")
    ls = acts.add_parser("list", help="the lists, or the entries of one")
    ls.add_argument("list", nargs="?")
    ls.add_argument("--json", action="store_true")
    i = acts.add_parser("import", help="add entries from CSV (header: plate,label,valid_from,valid_until,note)")
    i.add_argument("list")
    i.add_argument("file", help="CSV file, - for stdin")
    i.add_argument("--replace", action="store_true", help="the CSV becomes the whole list")
    e = acts.add_parser("export", help="write a list as CSV")
    e.add_argument("list")
    e.add_argument("file", nargs="?", default="-", help="default: stdout")
    for x in acts.choices.values():
        add_db_arguments(x)
    p.set_defaults(func=run)


def _fail(msg: str, code: int) -> int:
    """Each line of `msg` (a ConfigError has one per problem) as its own `alprd plates:` line."""
    from alprd.cli.store_read import fail

    return fail("plates", msg, code)


def run(args) -> int:
    from alprd.config import ConfigError
    from alprd.parking import lists
    from alprd.sinks import schema
    from alprd.sinks.db_url import DbUrlError, cli_url, make_engine, redact, sqlite_path

    try:
        url = cli_url(args.config, args.url)
    except (ConfigError, DbUrlError) as exc:
        return _fail(str(exc), 2)
    read_only = args.plates_action in ("list", "export")
    path = sqlite_path(url)
    if read_only and path is not None and not path.exists():
        return _fail(f"no database at {path} (start the daemon or run `alprd db upgrade`)", 1)
    engine = make_engine(url, create_dirs=not read_only)
    try:
        # like the daemon: an empty SQLite file gets the schema; anything else must be current
        state = schema.check_schema_current(engine) if read_only else schema.prepare_database(engine)
        if state == "unavailable":
            return _fail("cannot reach the database (is it running? see `alprd db current`)", 1)
        return _act(args, engine, lists)
    except lists.ListError as exc:
        return _fail(str(exc), 2)
    except (schema.SchemaError, schema.DatabaseUnavailable) as exc:
        return _fail(str(exc), 1)
    except OSError as exc:
        return _fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror}", 2)
    except Exception as exc:  # driver errors: one line, password masked
        return _fail(redact(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], url), 1)
    finally:
        engine.dispose()


def _act(args, engine, lists) -> int:
    act = args.plates_action
    if act == "create":
        lists.create_list(engine, args.name, args.kind, args.max_distance, args.camera)
        print(f"list {args.name} created ({args.kind}, max distance {args.max_distance:g})")
    elif act == "delete":
        n = lists.delete_list(engine, args.name)
        print(f"list {args.name} deleted with {n} plate(s)")
    elif act == "add":
        ent = lists.add_entry(engine, args.list, args.plate, args.label,
                              lists.parse_time(args.valid_from, "--from"),
                              lists.parse_time(args.valid_until, "--until"), args.note)
        print(f"{ent.plate} added to {args.list}")
    elif act == "remove":
        lists.remove_entry(engine, args.list, args.plate)
        print(f"{lists.normalise_plate(args.plate)} removed from {args.list}")
    elif act == "list":
        return _list(engine, lists, args)
    elif act == "import":
        src = "<stdin>" if args.file == "-" else args.file
        if args.file == "-":
            n = lists.import_csv(engine, args.list, sys.stdin, src, args.replace)
        else:
            with open(args.file, encoding="utf-8-sig", newline="") as f:
                n = lists.import_csv(engine, args.list, f, src, args.replace)
        print(f"{n} plate(s) imported into {args.list}")
    elif act == "export":
        text = lists.export_csv(engine, args.list)
        if args.file == "-":
            sys.stdout.write(text)
        else:
            with open(args.file, "w", encoding="utf-8", newline="") as f:
                f.write(text)
    return 0


def _list(engine, lists, args) -> int:
    if args.list:
        pl = lists.get_list(engine, args.list)
        rows = [{"plate": e.plate, "label": e.label, "valid_from": lists._iso(e.valid_from) or None,
                 "valid_until": lists._iso(e.valid_until) or None, "note": e.note} for e in pl.entries]
        if args.json:
            for r in rows:
                print(json.dumps(r, ensure_ascii=False))
            return 0
        cols = ("plate", "label", "valid_from", "valid_until", "note")
    else:
        rows = [{"name": pl.name, "kind": pl.kind, "max_distance": pl.max_distance,
                 "cameras": list(pl.cameras) if pl.cameras else None, "plates": len(pl.entries)}
                for pl in lists.load_lists(engine)]
        if args.json:
            for r in rows:
                print(json.dumps(r, ensure_ascii=False))
            return 0
        cols = ("name", "kind", "max_distance", "cameras", "plates")
    from rich.console import Console
    from rich.table import Table

    t = Table(*cols)
    for r in rows:
        t.add_row(*("" if r[c] is None else ",".join(r[c]) if isinstance(r[c], list) else str(r[c]) for c in cols))
    Console().print(t)
    return 0
