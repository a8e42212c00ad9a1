"""MQTT topics of alprd and its Home Assistant discovery payloads: plain data in, (topic, dict) out.

Why a module of its own: the MQTT sink only publishes what these functions return, so the topic
layout and the discovery payloads are tested (and documented in docs/events.md, with
DISCOVERY_SCHEMA) without a broker, and a plate list is just a name here, wherever it comes from.

Layout (prefix = sinks.mqtt.topic_prefix, default ``alprd``):
  <prefix>/status                       online / offline, retained (offline is the LWT)
  <prefix>/<camera>/<kind as a/b>       every event, e.g. alprd/gate1/plate/final (QoS 1)
  <prefix>/<camera>/last_plate          the camera's latest plate.final, retained
  <prefix>/<camera>/match/<list>        the latest plate.match of that list at that camera
  <discovery>/sensor/<node>_<camera>/last_plate/config              retained
  <discovery>/binary_sensor/<node>_<camera>/match_<list>/config     retained, one per list
"""
from __future__ import annotations

import re
import socket
from typing import Any, Iterable, Optional, Union

ONLINE, OFFLINE = "online", "offline"


def slug(name: str) -> str:
    """A topic level / object id from a free name (letters, digits, _ and - kept)."""
    s = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")
    return s or "_"


def default_node_id() -> str:
    return slug(socket.gethostname().split(".")[0]).lower()


def availability_topic(prefix: str) -> str:
    return f"{prefix}/status"


def event_topic(prefix: str, kind: str, camera_id: str) -> str:
    return f"{prefix}/{slug(camera_id)}/{kind.replace('.', '/')}"


def last_plate_topic(prefix: str, camera_id: str) -> str:
    return f"{prefix}/{slug(camera_id)}/last_plate"


def match_topic(prefix: str, camera_id: str, list_name: str) -> str:
    return f"{prefix}/{slug(camera_id)}/match/{slug(list_name)}"


def event_messages(prefix: str, event: dict[str, Any], *, retain_last_plate: bool = True
                   ) -> list[tuple[str, bool]]:
    """(topic, retain) pairs one event is published to; the payload is always the event JSON."""
    kind, cam = event["kind"], event.get("camera_id") or "_"
    out = [(event_topic(prefix, kind, cam), False)]
    if kind == "plate.final" and retain_last_plate:
        out.append((last_plate_topic(prefix, cam), True))
    if kind == "plate.match" and event.get("list_name"):
        out.append((match_topic(prefix, cam, event["list_name"]), False))
    return out


def _device(node: str, camera_id: str, version: str) -> dict[str, Any]:
    return {"identifiers": [f"alprd_{node}_{slug(camera_id)}"], "name": f"alprd {camera_id}",
            "manufacturer": "alprd", "model": "ALPR camera", "sw_version": version}


ListSpec = Union[str, tuple[str, Optional[Iterable[str]]]]  # a name, or (name, its cameras or None = all)


def discovery_messages(*, discovery_prefix: str, topic_prefix: str, node: str, cameras: Iterable[str],
                       lists: Iterable[ListSpec] = (), match_off_s: float = 10.0,
                       version: str = "0") -> list[tuple[str, dict[str, Any]]]:
    """Every retained discovery config: per camera a device with a "last plate" sensor and one
    binary sensor per plate list that applies to it (on for match_off_s after a match there)."""
    specs = [(x, None) if isinstance(x, str) else (x[0], None if x[1] is None else set(x[1])) for x in lists]
    avail = availability_topic(topic_prefix)
    common = {"availability_topic": avail, "payload_available": ONLINE,
              "payload_not_available": OFFLINE, "origin": {"name": "alprd", "sw": version}}
    out = []
    for cam in cameras:
        obj = f"{node}_{slug(cam)}"
        dev = _device(node, cam, version)
        state = last_plate_topic(topic_prefix, cam)
        out.append((f"{discovery_prefix}/sensor/{obj}/last_plate/config", {
            **common, "name": "Last plate", "unique_id": f"alprd_{obj}_last_plate",
            "object_id": f"alprd_{obj}_last_plate", "state_topic": state,
            "value_template": "{{ value_json.plate }}", "json_attributes_topic": state,
            "icon": "mdi:car", "device": dev}))
        for name, scope in specs:
            if scope is not None and cam not in scope:
                continue
            topic = match_topic(topic_prefix, cam, name)
            out.append((f"{discovery_prefix}/binary_sensor/{obj}/match_{slug(name)}/config", {
                **common, "name": f"On list {name}", "unique_id": f"alprd_{obj}_match_{slug(name)}",
                "object_id": f"alprd_{obj}_match_{slug(name)}", "state_topic": topic,
                "value_template": "{{ 'ON' if value_json.event_id else 'OFF' }}",
                "payload_on": "ON", "payload_off": "OFF", "off_delay": int(max(1, round(match_off_s))),
                "json_attributes_topic": topic, "icon": "mdi:card-account-details",
                "device": dev}))
    return out


_STR = {"type": "string", "minLength": 1}
_DEVICE = {"type": "object", "required": ["identifiers", "name", "manufacturer", "model"],
           "properties": {"identifiers": {"type": "array", "items": _STR, "minItems": 1},
                          "name": _STR, "manufacturer": _STR, "model": _STR, "sw_version": _STR},
           "additionalProperties": False}
_COMMON = {"availability_topic": _STR, "payload_available": {"const": ONLINE},
           "payload_not_available": {"const": OFFLINE},
           "origin": {"type": "object", "required": ["name"],
                      "properties": {"name": {"const": "alprd"}, "sw": _STR}, "additionalProperties": False},
           "name": _STR, "unique_id": {"type": "string", "pattern": "^alprd_[A-Za-z0-9_-]+$"},
           "object_id": {"type": "string", "pattern": "^alprd_[A-Za-z0-9_-]+$"},
           "state_topic": _STR, "value_template": _STR, "json_attributes_topic": _STR,
           "icon": {"type": "string", "pattern": "^mdi:"}, "device": _DEVICE}
_REQUIRED = ["availability_topic", "payload_available", "payload_not_available", "name", "unique_id",
             "state_topic", "value_template", "device"]

# JSON Schema (draft 2020-12) of the retained payloads on <discovery>/<component>/.../config.
DISCOVERY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "alprd Home Assistant discovery payload",
    "oneOf": [
        {"title": "sensor: last plate", "type": "object", "required": _REQUIRED,
         "properties": {**_COMMON, "unique_id": {"type": "string", "pattern": "^alprd_.+_last_plate$"}},
         "additionalProperties": False},
        {"title": "binary_sensor: plate list match", "type": "object",
         "required": [*_REQUIRED, "payload_on", "payload_off", "off_delay"],
         "properties": {**_COMMON, "unique_id": {"type": "string", "pattern": "^alprd_.+_match_[A-Za-z0-9_-]+$"},
                        "payload_on": {"const": "ON"}, "payload_off": {"const": "OFF"},
                        "off_delay": {"type": "integer", "minimum": 1}},
         "additionalProperties": False},
    ],
}
