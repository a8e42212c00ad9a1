"""`alprd visits [--open] [--plate P] [--since T]`: car-park visits from the SQL database.

Humans get a table in local time with the occupancy per site; --json prints one visit per line
(UTC ISO 8601) for machines.
"""
from __future__ import annotations

import json

from alprd.cli.store_read import fail, read_store


def add_parser(sub) -> None:
    from alprd.cli.db import add_db_arguments

    p = sub.add_parser("visits", help="car-park visits (entry, exit, dwell) and occupancy")
    p.add_argument("--open", action="store_true", help="only visits not closed yet (cars inside)")
    p.add_argument("--plate", metavar="P", help="entry or exit plate (exact)")
    p.add_argument("--since", metavar="T", help="ISO 8601 (local if no offset) or an age: 30m, 2h, 3d")
    p.add_argument("--site", metavar="S")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="newest N (default 100; 0 = all)")
    p.add_argument("--json", action="store_true", help="one visit per line (UTC)")
    add_db_arguments(p)
    p.set_defaults(func=run)


def _fail(msg: str, code: int) -> int:
    return fail("visits", msg, code)


def run(args) -> int:
    from alprd.parking.match import normalise_plate
    from alprd.parking.store import find_visits, occupancy
    from alprd.sinks.sql_query import parse_time

    try:
        since = parse_time(args.since) if args.since else None
    except ValueError as exc:
        return _fail(str(exc), 2)
    if args.limit < 0:
        return _fail("--limit must be >= 0", 2)
    plate = normalise_plate(args.plate) if args.plate else None
    found, code = read_store(args, "visits", lambda engine: (
        find_visits(engine, open_only=args.open, plate=plate, since=since, site=args.site,
                    limit=args.limit or None),
        occupancy(engine)))
    if code:
        return code
    rows, occ = found
    if args.json:
        for r in rows:
            print(json.dumps({k: _jsonable(v) for k, v in r.items()}, ensure_ascii=False))
        return 0
    _print_table(rows, occ)
    return 0


def _jsonable(v):
    from datetime import datetime

    if isinstance(v, datetime):
        return v.isoformat().replace("+00:00", "Z")
    return v


def _dwell(s: float | None) -> str:
    if s is None:
        return ""
    m, sec = divmod(int(round(s)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{sec:02d}"


def _print_table(rows: list[dict], occ: dict[str, int]) -> None:
    from rich.console import Console
    from rich.table import Table

    local = lambda t: t.astimezone().strftime("%Y-%m-%d %H:%M:%S") if t else ""  # noqa: E731
    t = Table(title=f"{len(rows)} visit(s); inside now: "
                    + (", ".join(f"{s} {n}" for s, n in sorted(occ.items())) or "0"))
    for c in ("site", "plate", "entered (local)", "exited (local)", "dwell", "status"):
        t.add_column(c, no_wrap=True)
    for r in rows:
        status = r["status"] if r["status"] == "open" else (r["outcome"] or "closed")
        t.add_row(r["site"], r["plate"], local(r["entered_at"]), local(r["exited_at"]),
                  _dwell(r["dwell_s"]), status)
    Console().print(t)
