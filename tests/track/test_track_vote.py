import itertools
import random

import pytest

from alprd.track.vote import MAX_STRINGS, Ballot, vote


def test_single_read_scores_its_weakest_char():
    r = vote([("ABC1234", 0.8, [0.9, 0.9, 0.7, 0.9, 0.9, 0.9, 0.9])])
    assert r.plate == "ABC1234"
    assert r.confidence == pytest.approx(0.7)
    assert r.alternatives == ()
    assert r.reads == 1


def test_empty_and_textless_reads_give_nothing():
    assert vote([]).plate == ""
    r = vote([("", 0.9)])
    assert (r.plate, r.confidence, r.reads) == ("", 0.0, 0)


def test_majority_beats_a_single_wrong_read_even_if_it_is_surer():
    reads = [("ABC1234", 0.6, [0.8] * 7)] * 3 + [("ABC1284", 0.95, [0.99] * 7)]
    r = vote(reads)
    assert r.plate == "ABC1234"
    assert r.alternatives[0].plate == "ABC1284"
    assert r.alternatives[0].score < r.confidence


def test_per_position_vote_recovers_a_string_no_read_had():
    reads = [("XBC1234", 1.0, [0.9] * 7), ("AXC1234", 1.0, [0.9] * 7), ("ABX1234", 1.0, [0.9] * 7)]
    r = vote(reads)
    assert r.plate == "ABC1234"
    assert all(a.plate != "ABC1234" for a in r.alternatives)
    # each position: 2 of 3 equal votes agree, at char confidence 0.9
    assert r.confidence == pytest.approx(0.9 * 2 / 3)
    assert {a.plate for a in r.alternatives} == {"XBC1234", "AXC1234", "ABX1234"}
    assert all(a.share == pytest.approx(1 / 3) for a in r.alternatives)


def test_low_char_confidence_loses_its_position():
    # Same weights, but the reads disagree on position 3 and one is sure, the other is not.
    reads = [("ABC1234", 1.0, [0.9, 0.9, 0.9, 0.3, 0.9, 0.9, 0.9]),
             ("ABC7234", 1.0, [0.9, 0.9, 0.9, 0.95, 0.9, 0.9, 0.9])]
    assert vote(reads).plate == "ABC7234"


def test_majority_length_decides_the_composite():
    reads = [("ABC1234", 1.0, [0.9] * 7)] * 2 + [("ABC12345", 1.0, [0.95] * 8)]
    r = vote(reads)
    assert r.plate == "ABC1234"
    assert r.confidence == pytest.approx(0.9 * 2 / 3)  # the other-length read dilutes the share
    assert [a.plate for a in r.alternatives] == ["ABC12345"]


def test_confidence_in_unit_range_and_top_k_respected():
    rng = random.Random(7)
    reads = [("".join(rng.choice("AB12") for _ in range(rng.choice((7, 8)))), rng.random(),
              [rng.random() for _ in range(8)]) for _ in range(200)]
    r = vote(reads, top_k=2)
    assert 0.0 <= r.confidence <= 1.0
    assert len(r.alternatives) == 2
    assert all(0.0 <= a.score <= r.confidence for a in r.alternatives)
    assert r.plate not in {a.plate for a in r.alternatives}


def test_ties_break_deterministically_whatever_the_order():
    reads = [("BBB1111", 1.0, [0.9] * 7), ("AAA1111", 1.0, [0.9] * 7)]
    results = {vote(list(p)) for p in itertools.permutations(reads)}
    assert len(results) == 1
    # positions 0-2 tie between A and B: the smaller character wins
    assert results.pop().plate == "AAA1111"
    # equal totals reached in different summation orders (0.1+0.2+0.3 != 0.3+0.2+0.1 in floats)
    mixed = [("BBB1111", w, [1.0] * 7) for w in (0.1, 0.2, 0.3)] + [("AAA1111", w, [1.0] * 7) for w in (0.3, 0.2, 0.1)]
    assert {vote(list(p)).plate for p in itertools.permutations(mixed)} == {"AAA1111"}


def test_mismatched_char_confs_fall_back_to_their_minimum():
    r = vote([("ABC1234", 1.0, [0.5, 0.9])])
    assert r.confidence == pytest.approx(0.5)
    assert vote([("ABC1234", 1.0)]).confidence == pytest.approx(1.0)


def test_ballot_memory_is_bounded_and_late_frequent_string_survives():
    b = Ballot()
    rng = random.Random(1)
    alphabet = "ABCDEFGHJK0123456789"
    for _ in range(2000):  # noise: many distinct strings
        b.add("".join(rng.choice(alphabet) for _ in range(7)), 0.5, [0.5] * 7)
    size = b.size()
    assert size <= MAX_STRINGS + 7 * len(alphabet)
    for _ in range(300):
        b.add("ZZZ9999", 0.9, [0.9] * 7)  # chars outside the noise alphabet except digits
    assert b.size() <= MAX_STRINGS + 7 * (len(alphabet) + 1)
    r = b.result()
    assert r.plate == "ZZZ9999"
    assert r.reads == 2300


def test_incremental_ballot_equals_pure_vote():
    reads = [("ABC1234", 0.7, [0.8] * 7), ("ABD1234", 0.5, [0.6] * 7), ("ABC1234", 0.9, [0.95] * 7)]
    b = Ballot()
    for t, w, c in reads:
        b.add(t, w, c)
    assert b.result() == vote(reads)
