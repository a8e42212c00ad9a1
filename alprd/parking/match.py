"""A confusion-aware edit distance between plate strings, and matching reads against plate lists.

Why not plain Levenshtein: the reader does not err at random. It swaps the pairs of characters it
confuses (measured on dev by pipelines.confusions, kept as data in confusions.json), so a read
that differs from a list entry by one such swap is far more likely the same car than a read that
differs by an arbitrary character. Substituting a measured pair costs its measured cost (0.3 to
0.8); any other substitution, an insertion or a deletion costs 1. A list's max_distance then says
how much it tolerates: 0 = exact only; the default 0.8 admits one measured confusion but no
arbitrary character. Pure functions over plain data: no I/O except load_costs().
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping

COSTS_FILE = Path(__file__).with_name("confusions.json")
INDEL = 1.0

_SEPARATORS = re.compile(r"[\s\-·•.]+")


def normalise_plate(text: str) -> str:
    """Upper case, NFKC (full-width letters → ASCII), separators (space, -, ·, .) removed."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper()


@dataclass(frozen=True)
class ConfusionCosts:
    """Substitution costs of character pairs (unordered), and where they come from."""

    pairs: Mapping[frozenset, float]
    source: str = ""

    def sub(self, a: str, b: str) -> float:
        if a == b:
            return 0.0
        return self.pairs.get(frozenset((a, b)), 1.0)

    @classmethod
    def from_dict(cls, data: dict, source: str = "") -> "ConfusionCosts":
        pairs = {}
        for p in data.get("pairs", ()):
            a, b, cost = str(p["a"]), str(p["b"]), float(p["cost"])
            if len(a) != 1 or len(b) != 1 or a == b or not 0.0 <= cost <= 1.0:
                raise ValueError(f"{source or 'confusion costs'}: bad pair {p!r}")
            pairs[frozenset((a, b))] = cost
        return cls(pairs, source)


PLAIN = ConfusionCosts({}, "plain Levenshtein")


@lru_cache(maxsize=4)
def load_costs(path: str | None = None) -> ConfusionCosts:
    """The measured costs shipped with alprd (or those of `path`)."""
    p = Path(path) if path else COSTS_FILE
    return ConfusionCosts.from_dict(json.loads(p.read_text(encoding="utf-8")), str(p))


def distance(a: str, b: str, costs: ConfusionCosts = PLAIN, limit: float | None = None) -> float:
    """Weighted edit distance from a to b. With `limit`, returns as soon as it must exceed it
    (the result is then some value > limit): a list of thousands is checked cheaply."""
    if a == b:
        return 0.0
    if limit is not None and abs(len(a) - len(b)) * INDEL > limit:
        return abs(len(a) - len(b)) * INDEL
    if limit is not None and limit < INDEL:
        # No insertion or deletion fits under the limit: only position-by-position substitutions
        # can, so their sum is the distance whenever it is within the limit (O(n), early exit).
        total = 0.0
        for ca, cb in zip(a, b):
            if ca != cb:
                total += costs.sub(ca, cb)
                if total > limit:
                    return total
        return round(total, 4)
    prev = [j * INDEL for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        cur = [i * INDEL]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + INDEL, cur[j - 1] + INDEL, prev[j - 1] + costs.sub(ca, cb)))
        if limit is not None and min(cur) > limit:
            return min(cur)
        prev = cur
    return round(prev[-1], 4)


# --- lists -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListEntry:
    plate: str                      # normalised
    label: str | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    note: str | None = None

    def valid_at(self, t: datetime) -> bool:
        return (self.valid_from is None or t >= self.valid_from) and \
               (self.valid_until is None or t < self.valid_until)


@dataclass(frozen=True)
class PlateList:
    name: str
    kind: str                       # allow | deny | watch
    max_distance: float = 0.8
    cameras: tuple[str, ...] | None = None  # None = every camera
    entries: tuple[ListEntry, ...] = ()

    def applies_to(self, camera_id: str) -> bool:
        return self.cameras is None or camera_id in self.cameras


@dataclass(frozen=True)
class Match:
    list: PlateList
    entry: ListEntry
    distance: float


def best_entry(read: str, entries: Iterable[ListEntry], max_distance: float, at: datetime,
               costs: ConfusionCosts) -> tuple[ListEntry, float] | None:
    """The closest valid entry within max_distance (ties: the first); None if none."""
    best: tuple[ListEntry, float] | None = None
    for e in entries:
        if not e.valid_at(at):
            continue
        d = distance(read, e.plate, costs, limit=max_distance)
        if d <= max_distance and (best is None or d < best[1]):
            best = (e, d)
            if d == 0.0:
                break
    return best


def match_read(read: str, camera_id: str, at: datetime, lists: Iterable[PlateList],
               costs: ConfusionCosts) -> list[Match]:
    """One Match per list (of those scoped to the camera) with an entry close enough to `read`."""
    read = normalise_plate(read)
    if not read:
        return []
    out = []
    for pl in lists:
        if not pl.applies_to(camera_id):
            continue
        found = best_entry(read, pl.entries, pl.max_distance, at, costs)
        if found is not None:
            out.append(Match(pl, found[0], found[1]))
    return out
