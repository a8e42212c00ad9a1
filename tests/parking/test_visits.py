"""The visits state machine (pure): entries, exits, fuzzy closing, nothing dropped silently."""
from datetime import datetime, timedelta, timezone

from alprd.parking.match import ConfusionCosts
from alprd.parking.visits import Passage, VisitBook

T0 = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
COSTS = ConfusionCosts.from_dict({"pairs": [{"a": "0", "b": "D", "cost": 0.4}]})


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def book(**kw) -> VisitBook:
    return VisitBook("lot", costs=COSTS, **kw)


def test_entry_then_fuzzy_exit_is_one_visit_with_its_dwell():
    b = book()
    [opened] = b.entry(Passage("皖A10345", at(0), "in", "e1"))
    assert opened.kind == "visit.open" and b.occupancy == 1
    [closed] = b.exit(Passage("皖A1D345", at(95), "out", "x1"))   # one confusable character wrong
    assert closed.kind == "visit.closed" and closed.outcome == "exited"
    assert closed.visit_id == opened.visit_id and closed.dwell_s == 95 * 60
    assert closed.plate == "皖A10345" and closed.exit_plate == "皖A1D345" and closed.distance == 0.4
    assert closed.entry_camera == "in" and closed.exit_camera == "out" and b.occupancy == 0
    assert opened.event_id != closed.event_id


def test_a_different_plate_does_not_close_the_visit_and_is_reported():
    b = book()
    b.entry(Passage("皖A10345", at(0), "in", "e1"))
    [orphan] = b.exit(Passage("皖A1X345", at(5), "out", "x1"))
    assert orphan.outcome == "exit_without_entry" and orphan.entered_at is None and orphan.dwell_s is None
    assert b.occupancy == 1


def test_repeats_within_repeat_s_are_one_passage():
    b = book(repeat_s=60)
    assert len(b.entry(Passage("皖A10345", at(0), "in", "e1"))) == 1
    assert b.entry(Passage("皖A10345", at(0.5), "in", "e2")) == []      # the same car, a split track
    assert len(b.exit(Passage("皖A10345", at(10), "out", "x1"))) == 1
    assert b.exit(Passage("皖A10345", at(10.5), "out", "x2")) == []     # read twice at the exit


def test_reentry_reports_the_missed_exit_and_expiry_reports_the_stale_visit():
    b = book(max_age_s=3600)
    [first] = b.entry(Passage("皖A10345", at(0), "in", "e1"))
    closed, opened = b.entry(Passage("皖A10345", at(30), "in", "e2"))
    assert closed.outcome == "reentered" and closed.visit_id == first.visit_id and opened.kind == "visit.open"
    assert b.expire(at(60)) == []
    [expired] = b.expire(at(91))
    assert expired.outcome == "expired" and expired.visit_id == opened.visit_id and b.occupancy == 0


def test_ids_come_from_the_cause_and_state_restores_from_open_visits():
    a, b = book(), book()
    ea = a.entry(Passage("皖A10345", at(0), "in", "e1"))
    eb = b.entry(Passage("皖A10345", at(0), "in", "e1"))
    assert [e.event_id for e in ea] == [e.event_id for e in eb]
    restored = VisitBook("lot", costs=COSTS, open_visits=a.open_visits)   # what the SQL state gives
    [closed] = restored.exit(Passage("皖A10345", at(7), "out", "x1"))
    assert closed.visit_id == ea[0].visit_id and closed.dwell_s == 420
