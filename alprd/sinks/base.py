"""The sink interface: every consumer of plate events implements these three methods."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from alprd.events import PlateEvent


@runtime_checkable
class Sink(Protocol):
    name: str

    def publish(self, event: PlateEvent) -> None:
        """Accept one event. Must not block the caller for long: slow work goes to a thread."""

    def flush(self, timeout: float | None = None) -> None:
        """Return once every accepted event is durable / sent (or the timeout passes)."""

    def close(self) -> None:
        """Flush and release resources; publish() is not called afterwards."""
