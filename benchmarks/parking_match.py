"""Parking benchmark: how long matching one read against a plate list takes, by list size.

    python -m benchmarks.parking_match [--sizes 100,1000,10000] [--reads 200] [--max-distance 0.8] [--json]

Lists of random mainland plates (seeded); each read is a list plate with 0, 1 or 2 characters
changed, or a random plate. Matching runs in the daemon's main loop once per preview and final,
so this is the time a list adds to each event. Costs: the shipped measured confusions.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import datetime, timezone

from alprd.parking.match import ListEntry, PlateList, load_costs, match_read

PROVINCES = "皖沪浙苏京粤川鲁豫冀"
CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"


def _plate(rng: random.Random) -> str:
    return rng.choice(PROVINCES) + rng.choice("ABCDEFGH") + "".join(rng.choice(CHARS) for _ in range(5))


def _read(rng: random.Random, entries: list[str]) -> str:
    if rng.random() < 0.25:
        return _plate(rng)
    p = list(rng.choice(entries))
    for k in rng.sample(range(2, 7), rng.choice((0, 1, 2))):
        p[k] = rng.choice(CHARS)
    return "".join(p)


def run(sizes: list[int], reads: int, max_distance: float) -> list[dict]:
    costs = load_costs()
    now = datetime.now(timezone.utc)
    rows = []
    for n in sizes:
        rng = random.Random(n)
        plates = [_plate(rng) for _ in range(n)]
        lists = (PlateList("bench", "watch", max_distance, None, tuple(ListEntry(p) for p in plates)),)
        times, hits = [], 0
        for _ in range(reads):
            r = _read(rng, plates)
            t0 = time.perf_counter()
            hits += bool(match_read(r, "cam", now, lists, costs))
            times.append(time.perf_counter() - t0)
        rows.append({"entries": n, "reads": reads, "max_distance": max_distance,
                     "median_ms": round(1000 * statistics.median(times), 3),
                     "p95_ms": round(1000 * sorted(times)[int(0.95 * (len(times) - 1))], 3),
                     "matched": hits})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.parking_match", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--max-distance", type=float, default=0.8)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    rows = run([int(x) for x in a.sizes.split(",")], a.reads, a.max_distance)
    if a.json:
        print(json.dumps(rows))
        return 0
    print(f"{'entries':>8} {'reads':>6} {'median ms':>10} {'p95 ms':>8} {'matched':>8}")
    for r in rows:
        print(f"{r['entries']:>8} {r['reads']:>6} {r['median_ms']:>10} {r['p95_ms']:>8} {r['matched']:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
