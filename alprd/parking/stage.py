"""The parking stage: PlateEvents in, plate.match / visit.open / visit.closed events out.

It sits between the trackers and the fan-out and never calls a sink; the daemon publishes what it
returns right after its cause, through the same fan-out (so the same durable spool) as the plate
events.

- Lists: every preview (parking.match_previews, so an allow list answers a waiting gate at preview
  latency) and every final is matched against the lists scoped to its camera (ListCache, refreshed
  in its own thread). One plate.match per vehicle and list: the preview's and the final's have the
  same deterministic id, and the second is not sent.
- Visits: finals of cameras with a role go to their site's VisitBook (entry, exit, or by travel for
  role both). Open visits come from SQL at start, plus the visit events still in the SQL sink's
  spool (written before a crash or during a database outage, not yet in the table), so a restart
  neither forgets a car inside nor reopens one that left.
"""
from __future__ import annotations

import json
import logging
from collections import OrderedDict
from datetime import datetime

from alprd.derived_events import DerivedEvent, PlateMatch, VisitEvent, derived_id, event_from_dict, track_key
from alprd.events import PlateEvent
from alprd.parking.config import CameraParking, ParkingConfig
from alprd.parking.match import ConfusionCosts, PlateList, match_read
from alprd.parking.visits import OpenVisit, Passage, VisitBook

log = logging.getLogger(__name__)

_REMEMBER_MATCHES = 10000  # (vehicle, list) pairs already announced; old ones are forgotten


class ParkingStage:
    def __init__(self, cfg: ParkingConfig, roles: dict[str, CameraParking], costs: ConfusionCosts,
                 lists=None, open_visits: dict[str, list[OpenVisit]] | None = None) -> None:
        self.cfg = cfg
        self.roles = {cid: r for cid, r in roles.items() if r.role != "none"}
        self.costs = costs
        self.lists = lists  # anything with a .lists tuple (ListCache), or None: no lists
        sites = sorted({r.site for r in self.roles.values()})
        self.books = {site: VisitBook(site, costs=costs, max_distance=cfg.visit_max_distance,
                                      max_age_s=cfg.max_visit_age_s, repeat_s=cfg.repeat_s,
                                      open_visits=(open_visits or {}).get(site, ()))
                      for site in sites}
        self._matched: OrderedDict[str, None] = OrderedDict()  # ids of the matches already sent
        self.counts = {"plate.match": 0, "visit.open": 0, "visit.closed": 0}
        self.recovered: list[DerivedEvent] = []  # recover()'s result, for the daemon to publish

    def set_role(self, camera_id: str, role: CameraParking | None) -> None:
        """A camera added or changed by a reload: its new role (a new site starts empty)."""
        if role is None or role.role == "none":
            self.roles.pop(camera_id, None)
            return
        self.roles[camera_id] = role
        if role.site not in self.books:
            c = self.cfg
            self.books[role.site] = VisitBook(role.site, costs=self.costs, max_distance=c.visit_max_distance,
                                              max_age_s=c.max_visit_age_s, repeat_s=c.repeat_s)

    @property
    def occupancy(self) -> dict[str, int]:
        return {site: b.occupancy for site, b in self.books.items()}

    def current_lists(self) -> tuple[PlateList, ...]:
        return self.lists.lists if self.lists is not None else ()

    def process(self, ev: PlateEvent) -> list[DerivedEvent]:
        out: list[DerivedEvent] = []
        if ev.kind == "plate.final" or self.cfg.match_previews:
            out += self._matches(ev)
        if ev.kind == "plate.final":
            out += self._visits(ev)
        return self._count(out)

    def tick(self, now: datetime) -> list[DerivedEvent]:
        """Close visits older than max_visit_age_s (call every few seconds with the UTC time)."""
        out: list[DerivedEvent] = []
        for b in self.books.values():
            out += b.expire(now)
        return self._count(out)

    def recover(self, records: list[dict]) -> list[DerivedEvent]:
        """Replay, in order, what the SQL sink's spool holds that SQL does not have yet (a
        restart after a crash or during an outage), on top of the state read from SQL.

        Derived events fold into the state (open visits, matches already sent). Plate events are
        derived again: what they give that the spool also holds after them is the same event
        (same id) and is not repeated; what it does not hold was lost by a kill between a plate
        event and its derived events, and is returned to be published now.
        """
        counts = dict(self.counts)
        pending: dict[str, DerivedEvent] = {}
        for d in records:
            try:
                ev = event_from_dict(d)
            except (ValueError, TypeError, KeyError):
                continue  # the sink rejects it in its own time
            if isinstance(ev, PlateEvent):
                for x in self.process(ev):
                    pending[x.event_id] = x
            elif ev.event_id in pending:
                del pending[ev.event_id]  # derived again just now: state already has it
            elif isinstance(ev, VisitEvent):
                b = self.books.get(ev.site)
                if b is not None:
                    b.apply(ev)
            elif isinstance(ev, PlateMatch):
                self._remember_match(ev.event_id)
        self.counts = counts
        lost = list(pending.values())
        if lost:
            log.warning("parking: %d derived event(s) were lost with the last run (killed between a plate "
                        "event and its derived events); publishing them now", len(lost))
        return self._count(lost)

    # -- internals ---------------------------------------------------------------------------------
    def _count(self, out: list[DerivedEvent]) -> list[DerivedEvent]:
        for e in out:
            self.counts[e.kind] = self.counts.get(e.kind, 0) + 1
        return out

    def _matches(self, ev: PlateEvent) -> list[PlateMatch]:
        lists = self.current_lists()
        if not lists:
            return []
        vehicle = track_key(ev)
        out = []
        for m in match_read(ev.plate, ev.camera_id, ev.last_seen, lists, self.costs):
            match_id = derived_id("plate.match", vehicle, m.list.name)
            if match_id in self._matched:
                continue
            self._remember_match(match_id)
            out.append(PlateMatch(
                camera_id=ev.camera_id, track_id=ev.track_id, read=ev.plate, list_name=m.list.name,
                list_kind=m.list.kind, entry_plate=m.entry.plate, entry_label=m.entry.label,
                distance=m.distance, source_kind=ev.kind, source_event_id=ev.event_id,
                seen_at=ev.last_seen, travel=ev.travel,
                event_id=match_id))
        return out

    def _remember_match(self, match_id: str) -> None:
        self._matched[match_id] = None
        if len(self._matched) > _REMEMBER_MATCHES:
            self._matched.popitem(last=False)

    def _visits(self, ev: PlateEvent) -> list[VisitEvent]:
        role = self.roles.get(ev.camera_id)
        if role is None:
            return []
        way = role.role
        if way == "both":
            way = {"in": "entry", "out": "exit"}.get(ev.travel, "")
            if not way:
                log.debug("camera %s: %s passed with unknown travel; no visit change", ev.camera_id, ev.plate)
                return []
        book = self.books[role.site]
        p = Passage(ev.plate, ev.last_seen, ev.camera_id, ev.event_id)
        return book.entry(p) if way == "entry" else book.exit(p)


def spooled_records(spool) -> list[dict]:
    """The records a durable sink's spool holds that its target has not taken yet, in order."""
    out: list[dict] = []
    if spool is None:
        return out
    pos = spool.acked
    while True:
        lines, nxt = spool.read(pos, 10000)
        for line in lines:
            try:
                d = json.loads(line)
            except ValueError:
                continue  # the sink rejects it in its own time
            if isinstance(d, dict):
                out.append(d)
        if not lines or nxt == pos:
            return out
        pos = nxt
