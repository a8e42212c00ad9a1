"""`alprd query`: search stored final events by plate pattern, camera and time.

Humans get a table in local time, every cell in full at any terminal width (the crop path
included); --json (PlateEvent JSON, one per line, as on the bus) and --csv carry UTC ISO 8601 for
machines. Without -c/--url it reads the database `alprd run` writes without -c
(config.default_config_path), and never creates one.
"""
from __future__ import annotations

import csv
import sys

from alprd.cli.store_read import fail, read_store

CSV_FIELDS = ("event_id", "camera_id", "track_id", "plate", "confidence", "first_seen",
              "last_seen", "reads", "direction", "parked", "crop_path")


def add_parser(sub) -> None:
    from alprd.cli.db import add_db_arguments

    p = sub.add_parser("query", help="search stored plate events")
    p.add_argument("--plate", metavar="P", help="plate, with * (any run) and ? (one char) wildcards")
    p.add_argument("--camera", metavar="C", help="camera id")
    p.add_argument("--since", metavar="T", help="ISO 8601 (local if no offset) or an age: 30m, 2h, 3d")
    p.add_argument("--until", metavar="T", help="same forms as --since")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="newest N (default 100; 0 = all)")
    add_db_arguments(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one PlateEvent JSON per line (UTC)")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header (UTC)")
    p.set_defaults(func=run)


def _fail(msg: str, code: int) -> int:
    return fail("query", msg, code)


def run(args) -> int:
    from alprd.sinks.sql_query import find_events, parse_time

    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except ValueError as exc:
        return _fail(str(exc), 2)
    if args.limit < 0:
        return _fail("--limit must be >= 0", 2)
    events, code = read_store(args, "query", lambda engine: find_events(
        engine, plate=args.plate.upper() if args.plate else None, camera=args.camera,
        since=since, until=until, limit=args.limit or None))
    if code:
        return code
    if args.json:
        for ev in events:
            print(ev.to_json())
    elif args.csv:
        _print_csv(events)
    else:
        _print_table(events)
    return 0


def _print_csv(events) -> None:
    w = csv.DictWriter(sys.stdout, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for ev in events:
        w.writerow(ev.to_dict())


TABLE_HEADERS = ("last seen (local)", "camera", "plate", "conf", "reads", "direction", "parked",
                 "seconds", "crop")


def table_row(ev) -> tuple:
    return (ev.last_seen.astimezone().strftime("%Y-%m-%d %H:%M:%S"), ev.camera_id, ev.plate,
            f"{ev.confidence:.2f}", ev.reads, ev.direction, "yes" if ev.parked else "no",
            f"{(ev.last_seen - ev.first_seen).total_seconds():.1f}", ev.crop_path or "-")


def _print_table(events) -> None:
    from alprd.cli.textable import format_table

    print(f"{len(events)} event(s)")
    if events:
        print(format_table(TABLE_HEADERS, (table_row(ev) for ev in events), right=(3, 4, 7)))
