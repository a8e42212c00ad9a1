"""Measure which characters the shipped cascade confuses, for the parking matcher's costs.

    python -m pipelines.confusions --sets crops_dev,ccpd_box_dev,ccpd_jitter_dev \
        --out alprd/parking/confusions.json

Reads dev sets only (never holdout) through the serving path, exactly as pipelines.evaluate does
(tight crops; CCPD plates cut by their box; CCPD plates read from detector-like jittered corners),
aligns each read with its label (Levenshtein) and counts every substitution pair. The output is
the data alprd.parking.match loads: per unordered pair the count, the rate (count / times the
label's character was read) and the substitution cost derived from it (see costs_from_counts).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pipelines.evaluate import TextStats, align, jitter_quad, prepare_crop, resolve_set

MIN_COUNT = 2        # a pair seen once is noise, not a habit of the reader
MIN_COST = 0.3       # the cheapest a substitution gets: a confusion is likely, not certain
MAX_COST = 0.8       # the dearest a measured confusion gets: still below an unseen pair's 1.0


def costs_from_counts(pairs: Counter, seen: Counter) -> list[dict]:
    """Unordered pairs with count >= MIN_COUNT → cost in [MIN_COST, MAX_COST]: the more often the
    reader makes the confusion (relative to how often either character was read), the cheaper,
    on a log scale (rate 1e-4 → 1.0, 1e-3 → 0.75, 1e-2 → 0.5), clipped."""
    out = []
    for (a, b), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
        if n < MIN_COUNT:
            continue
        rate = n / max(1, seen[a] + seen[b])
        cost = min(MAX_COST, max(MIN_COST, 1.0 - 0.25 * math.log10(rate / 1e-4)))
        out.append({"a": a, "b": b, "count": n, "rate": round(rate, 5), "cost": round(cost, 2)})
    return out


def count(sets: list[str], root: Path, limit: int | None, threads: int) -> tuple[Counter, Counter, dict]:
    from alprd.cascade import Recognizer

    rec = Recognizer(device="cpu", threads=threads)
    pairs: Counter = Counter()
    seen: Counter = Counter()
    per_set = {}

    def add(gt: str, pred: str, stats: TextStats) -> None:
        stats.add(gt, pred)
        for g, p in align(gt, pred or ""):
            if g:
                seen[g] += 1
            if g and p and g != p:
                pairs[tuple(sorted((g, p)))] += 1

    for name in sets:
        kind, items = resolve_set(name, root, limit)
        stats = TextStats()
        if kind == "crops":
            buf = list(items)
            for i in range(0, len(buf), 64):
                chunk = buf[i:i + 64]
                for (_, _, text), (pred, _) in zip(chunk, rec.read([prepare_crop(im) for _, im, _ in chunk])):
                    add(text, pred, stats)
        elif kind == "jittered":
            rng = np.random.default_rng(0)  # the same quads as pipelines.evaluate's ccpd_jitter sets
            for s in items:
                for corners, text in zip(np.asarray(s.corners, np.float32).reshape(-1, 4, 2), s.texts):
                    quads = [(0, jitter_quad(corners, rng)) for _ in range(10)]
                    for pred, _ in rec.read_at([s.image], quads):
                        add(text, pred, stats)
        else:
            raise SystemExit(f"set {name!r}: only crop and jittered sets are counted")
        per_set[name] = {k: v for k, v in stats.as_dict().items() if k in ("plates", "exact_acc", "char_acc")}
        print(f"{name}: {per_set[name]}", file=sys.stderr)
    return pairs, seen, per_set


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pipelines.confusions", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="crops_dev,ccpd_box_dev,ccpd_jitter_dev")
    ap.add_argument("--data", help="shared data folder (default: ../shared/data or $ALPRD_DATA)")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    sets = [s.strip() for s in a.sets.split(",") if s.strip()]
    if any(s.endswith("holdout") for s in sets):
        raise SystemExit("confusion costs are measured on dev only")
    from pipelines.data import data_root

    root = Path(a.data) if a.data else data_root(required=True)
    pairs, seen, per_set = count(sets, root, a.limit, a.threads)
    data = {
        "measured": {
            "how": f"python -m pipelines.confusions --sets {','.join(sets)}"
                   + (f" --limit {a.limit}" if a.limit else ""),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
            "weights": "shipped", "sets": per_set,
            "substitutions": sum(pairs.values()), "characters_read": sum(seen.values()),
            "rule": f"pairs seen >= {MIN_COUNT} times; cost = clip(1 - 0.25 * log10(rate / 1e-4), "
                    f"{MIN_COST}, {MAX_COST}); rate = count / reads of either character; "
                    "any other substitution costs 1",
        },
        "pairs": costs_from_counts(pairs, seen),
    }
    Path(a.out).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(data['pairs'])} pairs -> {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
