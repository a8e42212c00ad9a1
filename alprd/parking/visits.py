"""Visits of one site as a pure state machine: entry and exit reads in, visit events out.

An entry read opens a visit; the exit read of the same plate (fuzzy: the confusion-aware distance
within max_distance, closest then oldest open visit) closes it with its dwell time. Nothing is
dropped silently: an exit no open visit matches is reported (``visit.closed`` with outcome
``exit_without_entry``), a visit open longer than max_age_s is closed as ``expired``, and a second
entry of a plate whose visit is still open closes the old one as ``reentered`` (its exit was
missed). The same vehicle read twice at one gate within repeat_s (a track split in two) is one
passage, not two.

Every event id is derived from the cause (the entry's or the exit's plate event id), so the state
machine re-fed the same reads after a crash makes the same events, and the durable sinks keep one.
Times are the reads' own (last_seen, stream clock) and expire()'s `now`; no wall clock inside.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from alprd.derived_events import VisitEvent, derived_id
from alprd.parking.match import PLAIN, ConfusionCosts, distance, normalise_plate


@dataclass(frozen=True)
class OpenVisit:
    visit_id: str
    plate: str
    entered_at: datetime
    entry_camera: str
    entry_event_id: str


@dataclass(frozen=True)
class Passage:
    """One read at a gate, as the state machine needs it."""

    plate: str
    at: datetime
    camera_id: str
    event_id: str


class VisitBook:
    """The open visits of one site. Not thread-safe; the main loop owns it."""

    def __init__(self, site: str, *, costs: ConfusionCosts = PLAIN, max_distance: float = 0.8,
                 max_age_s: float = 7 * 86400.0, repeat_s: float = 60.0,
                 open_visits: list[OpenVisit] | tuple[OpenVisit, ...] = ()) -> None:
        self.site = site
        self.costs = costs
        self.max_distance = max_distance
        self.max_age = timedelta(seconds=max_age_s)
        self.repeat = timedelta(seconds=repeat_s)
        self._open: dict[str, OpenVisit] = {v.visit_id: v for v in open_visits}
        self._recent_exits: list[tuple[str, datetime]] = []  # (plate, exited_at) within repeat_s

    @property
    def occupancy(self) -> int:
        return len(self._open)

    @property
    def open_visits(self) -> list[OpenVisit]:
        return sorted(self._open.values(), key=lambda v: v.entered_at)

    def _closest(self, plate: str) -> tuple[OpenVisit, float] | None:
        best = None
        for v in self.open_visits:  # oldest first: ties go to the oldest
            d = distance(plate, v.plate, self.costs, limit=self.max_distance)
            if d <= self.max_distance and (best is None or d < best[1]):
                best = (v, d)
        return best

    # -- inputs ----------------------------------------------------------------------------------
    def entry(self, p: Passage) -> list[VisitEvent]:
        plate = normalise_plate(p.plate)
        events: list[VisitEvent] = []
        found = self._closest(plate)
        if found is not None:
            old, _ = found
            if abs(p.at - old.entered_at) <= self.repeat:
                return []  # the same passage read twice (a split track)
            del self._open[old.visit_id]
            events.append(self._closed(old, "reentered", p.camera_id, cause=p.event_id))
        visit = OpenVisit(derived_id("visit", p.event_id), plate, p.at, p.camera_id, p.event_id)
        self._open[visit.visit_id] = visit
        events.append(VisitEvent(
            kind="visit.open", visit_id=visit.visit_id, site=self.site, camera_id=p.camera_id,
            plate=plate, entered_at=p.at, entry_camera=p.camera_id, entry_event_id=p.event_id,
            event_id=derived_id("visit.open", visit.visit_id)))
        return events

    def exit(self, p: Passage) -> list[VisitEvent]:
        plate = normalise_plate(p.plate)
        self._recent_exits = [(pl, t) for pl, t in self._recent_exits if abs(p.at - t) <= self.repeat]
        found = self._closest(plate)
        if found is None:
            if any(distance(plate, pl, self.costs, limit=self.max_distance) <= self.max_distance
                   for pl, _ in self._recent_exits):
                return []  # the same exit read twice
            visit_id = derived_id("visit", p.event_id)
            return [VisitEvent(
                kind="visit.closed", visit_id=visit_id, site=self.site, camera_id=p.camera_id,
                plate=plate, entered_at=None, entry_camera=None, entry_event_id=None,
                exit_plate=plate, exited_at=p.at, exit_camera=p.camera_id, exit_event_id=p.event_id,
                outcome="exit_without_entry", event_id=derived_id("visit.closed", visit_id))]
        visit, d = found
        del self._open[visit.visit_id]
        self._recent_exits.append((plate, p.at))
        dwell = max(0.0, (p.at - visit.entered_at).total_seconds())
        return [replace(self._closed(visit, "exited", p.camera_id, cause=p.event_id),
                        exit_plate=plate, exited_at=p.at, exit_camera=p.camera_id,
                        exit_event_id=p.event_id, dwell_s=round(dwell, 3), distance=d)]

    def expire(self, now: datetime) -> list[VisitEvent]:
        """Close (as ``expired``) the visits open longer than max_age_s at `now`."""
        old = [v for v in self.open_visits if now - v.entered_at > self.max_age]
        for v in old:
            del self._open[v.visit_id]
        return [self._closed(v, "expired", v.entry_camera) for v in old]

    def apply(self, e: VisitEvent) -> None:
        """Fold in a visit event made earlier (restart: those still spooled, not yet in SQL)."""
        if e.kind == "visit.open" and e.entered_at is not None:
            self._open[e.visit_id] = OpenVisit(e.visit_id, e.plate, e.entered_at, e.entry_camera or "",
                                               e.entry_event_id or "")
        elif e.kind == "visit.closed":
            self._open.pop(e.visit_id, None)
            if e.exited_at is not None:
                self._recent_exits.append((e.exit_plate or e.plate, e.exited_at))

    def _closed(self, v: OpenVisit, outcome: str, camera_id: str, cause: str | None = None) -> VisitEvent:
        return VisitEvent(
            kind="visit.closed", visit_id=v.visit_id, site=self.site, camera_id=camera_id,
            plate=v.plate, entered_at=v.entered_at, entry_camera=v.entry_camera,
            entry_event_id=v.entry_event_id, outcome=outcome,
            event_id=derived_id("visit.closed", v.visit_id))
