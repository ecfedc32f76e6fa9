"""The event sink an adapter feeds, faked where the ingestion pipeline would be."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.events import Event
from bot.domain.sink import EventSink


@dataclass
class RecordingSink:
    """An `EventSink` that records every event an adapter hands it.

    With `forward` (e.g. the real `cohort.pipeline`) each event goes on to it and its
    answer is returned; without, the answer is `accept` (`False` acts like a full
    pipeline). `failures` are raised by the next ingests, one each, in order, before
    anything is recorded (a sink that breaks); once they run out, ingest records again.
    """

    forward: EventSink | None = None
    accept: bool = True
    failures: list[BaseException] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def ingest(self, event: Event) -> bool:
        """Fail if scripted to; otherwise record the event and accept or forward it."""
        if self.failures:
            raise self.failures.pop(0)
        self.events.append(event)
        if self.forward is not None:
            return self.forward.ingest(event)
        return self.accept
