"""What adapters hand events to: anything with `ingest(event) -> bool` (the pipeline)."""

from __future__ import annotations

from typing import Protocol

from bot.domain.events import Event


class EventSink(Protocol):
    """Receives events without blocking; returns False if the event was dropped."""

    def ingest(self, event: Event) -> bool:
        """Take `event` for writing."""
        ...
