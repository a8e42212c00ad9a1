"""The parking line of `alprd status`, from the daemon's stats snapshot ("parking")."""
from __future__ import annotations


def parking_line(s: dict) -> str | None:
    park = s.get("parking") or {}
    if not park:
        return None
    occ = ", ".join(f"{site} {n}" for site, n in sorted((park.get("occupancy") or {}).items())) or "no site"
    lists = ", ".join(f"{k} ({v})" for k, v in (park.get("lists") or {}).items()) or "none"
    ev = park.get("events") or {}
    line = (f"parking: inside now {occ}; lists {lists}; {ev.get('plate.match', 0)} matches, "
            f"{ev.get('visit.open', 0)} visits opened, {ev.get('visit.closed', 0)} closed")
    if park.get("errors"):
        line += f"; {park['errors']} errors (see the log)"
    return line
