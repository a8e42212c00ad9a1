"""Voting over many reads of one plate, so a track's answer beats any single noisy frame.

Two tallies are kept, both as bounded accumulators (a plate parked for hours costs O(1) memory):

* string votes: total weight per distinct string read;
* per-position character votes, per string length: for position i and character c, the weight of
  reads of that length with c at i, and that weight times the read's confidence in that character.

The composite string takes, at each position of the majority length (the length with the most
weight), the character with the highest confidence-weighted vote. It can therefore be right when
no single read was (three reads each wrong in a different place).

Score of a candidate string s (and the confidence of the winner), in [0, 1]:

    score(s) = min over positions i of  sum(w_r * c_r,i  for reads r with len(r) == len(s)
                                                          and r[i] == s[i])
                                        / sum(w_r for all reads r)

i.e. the vote share of s's weakest character, each vote discounted by the reader's confidence in
that character. One read scores its own text_conf (its weakest char_conf); unanimous reads score
their weighted mean char confidence; disagreement and other-length reads lower it. The composite
maximises every position term, so it scores at least as high as any read of the majority length.

Candidates are the composite plus every voted string, ranked by score, then string vote weight,
then text (so ties are deterministic). ``alternatives`` are the runners-up, the winner excluded.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

MAX_STRINGS = 32       # distinct strings kept as candidates (Space-Saving eviction, see Ballot.add)
MAX_POSITIONAL_LEN = 16  # longer reads are still string-voted but get no per-position tally
MIN_WEIGHT = 1e-6      # so a read with zero confidence still counts (and the total is never 0)


def read_weight(det_conf: float, text_conf: float) -> float:
    """How much one read counts: a sure detection of a sure string counts most."""
    return max(float(det_conf) * float(text_conf), 0.0)


@dataclass(frozen=True)
class Candidate:
    plate: str
    score: float   # see the module docstring; comparable across candidates and with confidence
    share: float   # this exact string's share of the total vote weight (0 for an unread composite)


@dataclass(frozen=True)
class VoteResult:
    plate: str                             # "" when nothing with text was voted
    confidence: float
    alternatives: tuple[Candidate, ...]    # runners-up, best first, at most top_k
    reads: int                             # reads with text that were voted


class Ballot:
    """Incremental vote accumulators for one track; memory is bounded whatever the read count."""

    __slots__ = ("total", "reads", "_strings", "_positions", "_length_weight")

    def __init__(self) -> None:
        self.total = 0.0
        self.reads = 0
        self._strings: dict[str, float] = {}
        # length -> [position -> {char: [vote weight, confidence-weighted vote]}]
        self._positions: dict[int, list[dict[str, list[float]]]] = {}
        self._length_weight: dict[int, float] = {}

    def add(self, text: str, weight: float, char_confs: Sequence[float] | None = None) -> None:
        """Vote one read. Without char_confs every character counts as sure (1.0); with the wrong
        number of them, each character gets their minimum (the read's text confidence)."""
        if not text:
            return
        w = max(float(weight), MIN_WEIGHT)
        self.total += w
        self.reads += 1
        if text in self._strings or len(self._strings) < MAX_STRINGS:
            self._strings[text] = self._strings.get(text, 0.0) + w
        else:
            # Space-Saving: the newcomer replaces the lightest string and inherits its weight, so a
            # string read often is never locked out by early noise (its share may be overstated by
            # at most the evicted weight; scores come from the exact positional tally).
            lightest = min(self._strings, key=lambda s: (self._strings[s], s))
            self._strings[text] = self._strings.pop(lightest) + w
        n = len(text)
        if n > MAX_POSITIONAL_LEN:
            return
        if char_confs is None or len(char_confs) != n:
            fallback = min(char_confs) if char_confs else 1.0
            char_confs = [fallback] * n
        self._length_weight[n] = self._length_weight.get(n, 0.0) + w
        slots = self._positions.setdefault(n, [{} for _ in range(n)])
        for slot, ch, conf in zip(slots, text, char_confs):
            acc = slot.setdefault(ch, [0.0, 0.0])
            acc[0] += w
            acc[1] += w * min(max(float(conf), 0.0), 1.0)

    def size(self) -> int:
        """Number of accumulator entries (for memory-bound checks and metrics)."""
        return len(self._strings) + sum(len(slot) for slots in self._positions.values() for slot in slots)

    def score(self, text: str) -> float:
        slots = self._positions.get(len(text))
        if not slots or self.total <= 0:
            return 0.0
        return min(slot.get(ch, (0.0, 0.0))[1] for slot, ch in zip(slots, text)) / self.total

    def composite(self) -> str:
        """Per-position winner over reads of the majority length ("" if none)."""
        if not self._length_weight:
            return ""
        length = min(self._length_weight, key=lambda n: (-self._length_weight[n], n))
        return "".join(
            min(slot, key=lambda c: (-_r(slot[c][1]), -_r(slot[c][0]), c)) for slot in self._positions[length]
        )

    def result(self, top_k: int = 3) -> VoteResult:
        names = set(self._strings)
        comp = self.composite()
        if comp:
            names.add(comp)
        if not names:
            return VoteResult("", 0.0, (), self.reads)
        ranked = sorted(
            (Candidate(s, _unit(self.score(s)), _unit(self._strings.get(s, 0.0) / self.total)) for s in names),
            key=lambda c: (-_r(c.score), -_r(c.share), c.plate),
        )
        best = ranked[0]
        return VoteResult(best.plate, best.score, tuple(ranked[1 : 1 + top_k]), self.reads)


def vote(reads: Iterable[tuple], top_k: int = 3) -> VoteResult:
    """Pure entry point: reads are (text, weight) or (text, weight, char_confs)."""
    ballot = Ballot()
    for r in reads:
        ballot.add(r[0], r[1], r[2] if len(r) > 2 else None)
    return ballot.result(top_k)


def _r(x: float) -> float:
    """Round away float summation-order noise so ties break the same whatever the read order."""
    return round(x, 9)


def _unit(x: float) -> float:
    return min(max(x, 0.0), 1.0)
