"""Human-readable events on stdout (rich), or one JSON object per line with as_json.

Logs go to stderr, events to stdout, so `alprd run > events.txt` keeps only events.
"""
from __future__ import annotations

import sys
import threading

from rich.console import Console
from rich.markup import escape

from alprd.events import PlateEvent

_DIRECTION_ARROWS = {"up": "↑", "down": "↓", "left": "←", "right": "→", "stationary": "·", "unknown": "?"}


def format_derived(event) -> str:
    """plate.match / visit.* (alprd.parking): kind, camera and what happened, in one line."""
    d = event.to_dict()
    if event.kind == "plate.match":
        what = (f"{escape(d['read'])} ≈ {escape(d['entry_plate'])} on {d['list_kind']} list "
                f"[bold]{escape(d['list_name'])}[/] (distance {d['distance']:g})")
        tag = "[bold red]MATCH  [/]" if d["list_kind"] == "deny" else "[bold blue]MATCH  [/]"
    else:
        tag = "[bold cyan]VISIT  [/]"
        what = f"{event.kind} {escape(d['plate'])} at {escape(d['site'])}"
        if d.get("outcome"):
            what += f" ({d['outcome']}" + (f", {d['dwell_s']:.0f}s" if d.get("dwell_s") is not None else "") + ")"
    return f"{tag} [cyan]{escape(event.camera_id)}[/]  {what}"


def format_event(event: PlateEvent) -> str:
    """One line of rich markup describing the event."""
    if event.kind not in PlateEvent.KINDS:
        return format_derived(event)
    local = event.last_seen.astimezone()
    when = local.strftime("%H:%M:%S")
    if event.kind == "plate.final":
        tag = "[bold green]FINAL  [/]"
        plate = f"[bold]{escape(event.plate)}[/]"
    else:
        tag = "[yellow]preview[/]"
        plate = escape(event.plate)
    parts = [f"{when}", tag, f"[cyan]{escape(event.camera_id)}[/]#{event.track_id}", plate,
             f"{event.confidence:.2f}", f"{event.reads} reads",
             f"{_DIRECTION_ARROWS.get(event.direction, '?')} {event.direction}"]
    if event.parked:
        parts.append("[magenta]parked[/]")
    if event.kind == "plate.final":
        duration = (event.last_seen - event.first_seen).total_seconds()
        parts.append(f"{duration:.1f}s")
        alts = [a for a in event.alternatives if a.plate != event.plate]
        if alts:
            parts.append("[dim]or " + ", ".join(f"{escape(a.plate)} {a.score:.2f}" for a in alts) + "[/]")
        if event.crop_path:
            parts.append(f"[dim]{escape(event.crop_path)}[/]")
    return "  ".join(parts)


class StdoutSink:
    name = "stdout"

    def __init__(self, *, as_json: bool = False, file=None, color: bool | None = None) -> None:
        self.as_json = as_json
        self._file = file if file is not None else sys.stdout
        self._lock = threading.Lock()
        self._console = None if as_json else Console(
            file=self._file, highlight=False, soft_wrap=True,
            force_terminal=color, no_color=(color is False))

    def publish(self, event: PlateEvent) -> None:
        with self._lock:
            if self.as_json:
                self._file.write(event.to_json() + "\n")
                self._file.flush()
            else:
                self._console.print(format_event(event))

    def flush(self, timeout: float | None = None) -> None:
        with self._lock:
            try:
                self._file.flush()
            except (OSError, ValueError):  # closed or broken pipe (`alprd run | head`)
                pass

    def close(self) -> None:
        self.flush()
