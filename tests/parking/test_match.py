"""The confusion-aware distance and list matching (pure)."""
from datetime import datetime, timedelta, timezone

import pytest

from alprd.parking.match import (PLAIN, ConfusionCosts, ListEntry, PlateList, distance, load_costs,
                                 match_read, normalise_plate)

T0 = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
COSTS = ConfusionCosts.from_dict({"pairs": [{"a": "0", "b": "D", "cost": 0.4}, {"a": "8", "b": "B", "cost": 0.5}]})


def test_distance_is_levenshtein_with_cheaper_measured_confusions():
    assert distance("ABC123", "ABC123", COSTS) == 0
    assert distance("ABC1D3", "ABC103", COSTS) == 0.4          # a measured confusion
    assert distance("ABC1D3", "ABC103", PLAIN) == 1.0
    assert distance("ABC1X3", "ABC103", COSTS) == 1.0           # an arbitrary substitution
    assert distance("8BC1D3", "BBC103", COSTS) == pytest.approx(0.9)  # symmetric pairs, summed
    assert distance("ABC10", "ABC103", COSTS) == 1.0            # a missed character
    assert distance("AB", "ABC103", COSTS, limit=0.8) > 0.8     # early exit says "too far"


def test_shipped_costs_are_measured_data_with_their_method():
    costs = load_costs()
    assert "pipelines.confusions" in __import__("json").load(open(costs.source))["measured"]["how"]
    assert costs.pairs and all(0.3 <= c <= 0.8 for c in costs.pairs.values())
    assert costs.sub("0", "D") < 1.0 and costs.sub("D", "0") == costs.sub("0", "D")


def test_normalise():
    assert normalise_plate(" 粤b-12 345 ") == "粤B12345"
    assert normalise_plate("ＡＢ·１２") == "AB12"


def _lists():
    return [
        PlateList("residents", "allow", 0.8, None, (ListEntry("皖A10345", "flat 3"),
                                                     ListEntry("皖A0D888", "flat 4", valid_until=T0))),
        PlateList("banned", "deny", 0.0, ("gate_in",), (ListEntry("京B66666", "bad"),)),
    ]


def test_one_confusable_character_still_matches_a_different_plate_does_not():
    got = match_read("皖A1D345", "gate_in", T0, _lists(), COSTS)   # 0 read as D: a measured confusion
    assert [(m.list.name, m.entry.plate, m.distance) for m in got] == [("residents", "皖A10345", 0.4)]
    assert match_read("皖A10345", "gate_in", T0, _lists(), COSTS)[0].distance == 0
    assert match_read("皖A1034D", "gate_in", T0, _lists(), COSTS) == []  # 5 → D is not one
    assert match_read("苏E99999", "gate_in", T0, _lists(), COSTS) == []


def test_list_scope_validity_and_exactness():
    assert [m.list.name for m in match_read("京B66666", "gate_in", T0, _lists(), COSTS)] == ["banned"]
    assert match_read("京B66666", "gate_out", T0, _lists(), COSTS) == []      # scoped to gate_in
    assert match_read("京B6666B", "gate_in", T0, _lists(), COSTS) == []       # banned is exact-only
    # the entry that expired at T0 matches before, not at or after
    assert match_read("皖A0D888", "x", T0 - timedelta(seconds=1), _lists(), COSTS)[0].entry.label == "flat 4"
    assert match_read("皖A0D888", "x", T0, _lists(), COSTS) == []


def test_bad_cost_data_is_refused():
    with pytest.raises(ValueError, match="bad pair"):
        ConfusionCosts.from_dict({"pairs": [{"a": "00", "b": "D", "cost": 0.4}]})


def test_the_substitution_only_shortcut_agrees_with_the_full_distance():
    """Under a limit below one insertion (< 1) distance() skips the dynamic programme; it must
    decide "within the limit" exactly as the full distance does, and give the same value then."""
    import random

    rng = random.Random(3)
    alphabet = "皖苏浙0D1T8B9Q7ABC"
    costs = load_costs()
    for _ in range(5000):
        a = "".join(rng.choice(alphabet) for _ in range(7))
        b = list(a)
        for k in rng.sample(range(7), rng.choice((0, 1, 2, 3))):
            b[k] = rng.choice(alphabet)
        b = "".join(b)[: rng.choice((6, 7, 7, 7))]
        full = distance(a, b, costs)
        fast = distance(a, b, costs, limit=0.8)
        assert (full <= 0.8) == (fast <= 0.8), (a, b, full, fast)
        if full <= 0.8:
            assert fast == pytest.approx(full)
