"""Events the parking stage derives from plate events: ``plate.match``, ``visit.open``, ``visit.closed``.

They travel the same fan-out as PlateEvents (bus, SQL, JSON lines, webhooks, MQTT) and share its
interface: ``kind``, ``camera_id``, ``event_id``, ``topic``, ``to_dict``/``to_json``/``from_dict``.
Their ``event_id`` is a UUID5 of their cause (the track or plate event behind them), never random:
a derived event re-made after a crash, or made once from a preview and once from the final of the
same vehicle, has the same id, so every durable sink stores it once (ON CONFLICT DO NOTHING).

``event_from_json`` rebuilds any event kind from the one JSON encoding (a consumer meeting an
unknown kind gets UnknownEventKind: skip and count it). ``JSON_SCHEMAS`` are the JSON Schemas
documented in docs/events.md and docs/parking.md.
"""
from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from alprd.events import PlateEvent, _iso, _parse_time

DERIVED_SCHEMA_VERSION = 1

# Every derived id is uuid5(ALPRD_NAMESPACE, "<kind>|<cause...>").
ALPRD_NAMESPACE = uuid.UUID("6f1d5f3e-4c7a-5b8e-9a51-0d2c6a7e1b90")

LIST_KINDS = ("allow", "deny", "watch")
TRAVEL = ("in", "out", "unknown")
VISIT_OUTCOMES = ("exited", "expired", "reentered", "exit_without_entry")


class UnknownEventKind(ValueError):
    """A JSON event whose kind this version does not know (skip and count it, never crash)."""


def derived_id(*parts: object) -> str:
    """The deterministic event id of a derived event, from what caused it."""
    return str(uuid.uuid5(ALPRD_NAMESPACE, "|".join(str(p) for p in parts)))


def track_key(event: PlateEvent) -> str:
    """Identifies one vehicle's track across its preview and its final, and across restarts
    (track ids restart at 1 with the daemon; the first sighting's time does not)."""
    return f"{event.camera_id}|{event.track_id}|{_iso(event.first_seen)}"


class _Derived:
    KINDS: ClassVar[tuple[str, ...]] = ()
    _TIMES: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:  # type: ignore[attr-defined]
            raise ValueError(f"unknown event kind {self.kind!r}")  # type: ignore[attr-defined]
        if not self.event_id:  # type: ignore[attr-defined]
            raise ValueError("a derived event needs its deterministic event_id (derived_id)")

    @property
    def topic(self) -> str:
        return f"{self.kind}.{self.camera_id}"  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        for k in self._TIMES:
            if d.get(k) is not None:
                d[k] = _iso(d[k])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]):
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        d = {k: v for k, v in d.items() if k in names}  # newer minor fields are ignored
        for k in cls._TIMES:
            if d.get(k) is not None:
                d[k] = _parse_time(d[k])
        return cls(**d)

    @classmethod
    def from_json(cls, s: str | bytes):
        return cls.from_dict(json.loads(s))


@dataclass(frozen=True)
class PlateMatch(_Derived):
    """A read of a camera matched an entry of a plate list (exactly or within the list's distance)."""

    camera_id: str
    track_id: int
    read: str               # the plate as read (the preview's or the final's vote)
    list_name: str
    list_kind: str          # allow | deny | watch
    entry_plate: str        # the list entry it matched
    entry_label: str | None
    distance: float         # confusion-weighted edit distance; 0 = exact
    source_kind: str        # plate.preview | plate.final: which read matched
    source_event_id: str
    seen_at: datetime       # last_seen of the read
    travel: str = "unknown"  # in | out | unknown
    kind: str = "plate.match"
    event_id: str = ""
    schema_version: int = DERIVED_SCHEMA_VERSION

    KINDS: ClassVar[tuple[str, ...]] = ("plate.match",)
    _TIMES: ClassVar[tuple[str, ...]] = ("seen_at",)


@dataclass(frozen=True)
class VisitEvent(_Derived):
    """A visit opened (``visit.open``) or ended (``visit.closed``, with an outcome).

    outcome: ``exited`` (the exit camera read the plate, dwell_s set), ``expired`` (no exit within
    parking.max_visit_age_s: closed, reported, dwell unknown), ``reentered`` (the plate entered again
    while its visit was open: its exit was missed), ``exit_without_entry`` (an exit of a plate no
    open visit matched: entered_at and dwell_s are null).
    """

    kind: str               # visit.open | visit.closed
    visit_id: str
    site: str
    camera_id: str          # the camera whose read caused this event
    plate: str              # as read at the entry (at the exit for exit_without_entry)
    entered_at: datetime | None
    entry_camera: str | None
    entry_event_id: str | None
    exit_plate: str | None = None
    exited_at: datetime | None = None
    exit_camera: str | None = None
    exit_event_id: str | None = None
    dwell_s: float | None = None
    distance: float | None = None   # between the entry and the exit reads
    outcome: str | None = None      # visit.closed only: see VISIT_OUTCOMES
    event_id: str = ""
    schema_version: int = DERIVED_SCHEMA_VERSION

    KINDS: ClassVar[tuple[str, ...]] = ("visit.open", "visit.closed")
    _TIMES: ClassVar[tuple[str, ...]] = ("entered_at", "exited_at")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.outcome is not None and self.outcome not in VISIT_OUTCOMES:
            raise ValueError(f"unknown visit outcome {self.outcome!r}")


DerivedEvent = PlateMatch | VisitEvent
AnyEvent = PlateEvent | PlateMatch | VisitEvent

_BY_KIND: dict[str, type] = {k: PlateEvent for k in PlateEvent.KINDS}
_BY_KIND.update({k: PlateMatch for k in PlateMatch.KINDS})
_BY_KIND.update({k: VisitEvent for k in VisitEvent.KINDS})
ALL_KINDS = tuple(_BY_KIND)


def event_from_dict(d: dict[str, Any]) -> AnyEvent:
    cls = _BY_KIND.get(d.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        raise UnknownEventKind(f"unknown event kind {d.get('kind')!r}")
    return cls.from_dict(d)


def event_from_json(s: str | bytes) -> AnyEvent:
    """Any event from its JSON encoding; UnknownEventKind for a kind this version lacks."""
    d = json.loads(s)
    if not isinstance(d, dict):
        raise ValueError("an event is a JSON object")
    return event_from_dict(d)


# --- JSON Schemas (draft 2020-12) ----------------------------------------------------------------
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": ["string", "null"], "format": "date-time"}
_NSTR = {"type": ["string", "null"]}

PLATE_MATCH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "alprd plate.match", "type": "object",
    "required": ["kind", "event_id", "schema_version", "camera_id", "track_id", "read", "list_name",
                 "list_kind", "entry_plate", "distance", "source_kind", "source_event_id", "seen_at",
                 "travel"],
    "properties": {
        "kind": {"const": "plate.match"}, "event_id": {"type": "string", "format": "uuid"},
        "schema_version": {"const": DERIVED_SCHEMA_VERSION}, "camera_id": {"type": "string"},
        "track_id": {"type": "integer"}, "read": {"type": "string"}, "list_name": {"type": "string"},
        "list_kind": {"enum": list(LIST_KINDS)}, "entry_plate": {"type": "string"},
        "entry_label": _NSTR, "distance": {"type": "number", "minimum": 0},
        "source_kind": {"enum": list(PlateEvent.KINDS)},
        "source_event_id": {"type": "string"}, "seen_at": _TIME, "travel": {"enum": list(TRAVEL)},
    },
}

VISIT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "alprd visit.open / visit.closed", "type": "object",
    "required": ["kind", "event_id", "schema_version", "visit_id", "site", "camera_id", "plate"],
    "properties": {
        "kind": {"enum": list(VisitEvent.KINDS)}, "event_id": {"type": "string", "format": "uuid"},
        "schema_version": {"const": DERIVED_SCHEMA_VERSION}, "visit_id": {"type": "string"},
        "site": {"type": "string"}, "camera_id": {"type": "string"}, "plate": {"type": "string"},
        "entered_at": _NTIME, "entry_camera": _NSTR, "entry_event_id": _NSTR,
        "exit_plate": _NSTR, "exited_at": _NTIME, "exit_camera": _NSTR, "exit_event_id": _NSTR,
        "dwell_s": {"type": ["number", "null"], "minimum": 0},
        "distance": {"type": ["number", "null"], "minimum": 0},
        "outcome": {"enum": [*VISIT_OUTCOMES, None]},
    },
}

JSON_SCHEMAS = {"plate.match": PLATE_MATCH_SCHEMA, "visit.open": VISIT_SCHEMA, "visit.closed": VISIT_SCHEMA}
