"""Replaying recorded events into the live pipeline at a chosen rate.

Used for load and crash tests: it goes through `IngestPipeline.submit`, exactly the
path adapters use (`submit` only adds waiting for room instead of dropping).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bot.core.pipeline import IngestPipeline
from bot.domain.events import Event

# How many events between pacing checks (sleeping per event would cost more than it paces).
PACE_EVERY = 50


@dataclass(slots=True)
class ReplayProgress:
    """How far a replay got."""

    handed_over: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def rate(self) -> float:
        """Events handed over per second so far."""
        return self.handed_over / self.seconds if self.seconds > 0 else 0.0


async def replay(
    events: Iterable[Event],
    pipeline: IngestPipeline,
    *,
    rate: float,
    stop: asyncio.Event,
    on_tick: Callable[[ReplayProgress], None] | None = None,
    tick_seconds: float = 1.0,
) -> ReplayProgress:
    """Hand `events` to `pipeline` at `rate` events/s (0: as fast as it accepts them).

    Returns when the events run out or `stop` is set; does not stop the pipeline.
    """
    progress = ReplayProgress()
    started = time.monotonic()
    next_tick = started + tick_seconds
    for event in events:
        if stop.is_set():
            progress.interrupted = True
            break
        await pipeline.submit(event)
        progress.handed_over += 1
        if progress.handed_over % PACE_EVERY:
            continue
        now = time.monotonic()
        if rate > 0:
            ahead = started + progress.handed_over / rate - now
            if ahead > 0:
                await asyncio.sleep(ahead)
                now = time.monotonic()
        else:
            await asyncio.sleep(0)  # let the writer run
        if on_tick is not None and now >= next_tick:
            progress.seconds = now - started
            on_tick(progress)
            next_tick = now + tick_seconds
    progress.seconds = time.monotonic() - started
    return progress
