"""The live ingestion pipeline: `ingest()` enqueues, one writer task drains in batches.

Adapters call `ingest(event)` from their event handlers; it never touches the
database, so a slow disk cannot stall the gateway connection. One writer task
takes up to `batch_size` events, or whatever arrived within `batch_seconds` of the
oldest waiting one, and writes them in one transaction. When the queue is full new
events are dropped and counted (the bot must keep up with the platform, not the
other way round); `submit()` instead waits for room, for replays and backfills.

Failures: a database that is down or locked is retried with backoff while the
queue holds further events; a batch the database rejects is split in halves until
the offending event is found, logged and counted as failed, so one bad event never
blocks the rest. `stop()` flushes everything queued before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, OperationalError

from bot.domain.events import Event
from bot.store.store import Store
from bot.store.writer import EventWriter
from bot.store.writers.results import WriteResult

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


@dataclass(frozen=True, slots=True)
class PipelineStats:
    """Counters of the pipeline at one moment."""

    events_in: int
    written: int
    dropped: int
    invalid: int
    failed: int
    batches: int
    queue_depth: int
    lag_seconds: float
    last_commit_lag_seconds: float


def _is_transient(exc: BaseException) -> bool:
    """Errors worth retrying as they are: the database was unreachable, locked or restarted."""
    if isinstance(exc, OSError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError):
        message = str(exc.orig).lower()
        return any(
            hint in message
            for hint in ("locked", "busy", "connection", "closed", "timeout", "disk i/o")
        )
    return False


class IngestPipeline:
    """Bounded queue plus a single writer; see the module docstring."""

    def __init__(
        self,
        store: Store,
        writer: EventWriter,
        *,
        queue_size: int = 10_000,
        batch_size: int = 500,
        batch_seconds: float = 1.0,
        on_written: Callable[[WriteResult], None] | None = None,
    ) -> None:
        self._store = store
        self._writer = writer
        self._max = queue_size
        self._batch_size = batch_size
        self._batch_seconds = batch_seconds
        self._on_written = on_written
        self._queue: deque[tuple[Event, float]] = deque()
        self._wakeup = asyncio.Event()
        self._space = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._flush_now = False
        self._in = 0
        self._written = 0
        self._dropped = 0
        self._invalid = 0
        self._failed = 0
        self._batches = 0
        self._commit_lag = 0.0
        self._last_full_warning = 0.0
        self.totals = WriteResult()

    # -- producer side ---------------------------------------------------------------

    def ingest(self, event: Event) -> bool:
        """Queue `event` for writing; return False if it was dropped (never blocks)."""
        candidate: object = event  # callers are not type-checked at run time
        if not isinstance(candidate, Event):
            self._invalid += 1
            log.error("ingest() got %r, not an Event; dropped", type(candidate).__name__)
            return False
        if self._stopping or self._task is None:
            self._dropped += 1
            return False
        queue = self._queue
        if len(queue) >= self._max:
            self._dropped += 1
            now = time.monotonic()
            if now - self._last_full_warning > 10:
                self._last_full_warning = now
                log.warning("ingest queue full (%d); dropping events", self._max)
            return False
        queue.append((event, time.monotonic()))
        self._in += 1
        depth = len(queue)
        if depth == 1:
            self._idle.clear()
            self._wakeup.set()
        elif depth == self._batch_size:
            self._wakeup.set()
        return True

    async def submit(self, event: Event) -> bool:
        """Like `ingest`, but wait for room in the queue instead of dropping."""
        while len(self._queue) >= self._max and not self._stopping:
            self._space.clear()
            await self._space.wait()
        return self.ingest(event)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer task (call from inside the running event loop)."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="cohort-ingest-writer"
            )

    async def flush(self) -> None:
        """Write everything queued so far now, and wait until it is committed."""
        if self._task is None:
            return
        self._flush_now = True
        self._wakeup.set()
        await self._idle.wait()

    async def stop(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109 - a flush deadline
        """Stop accepting events, write what is queued, and end the writer task."""
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        self._space.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            lost = len(self._queue)
            log.error("ingest writer did not finish in %.0fs; %d events not written", timeout, lost)
            self._failed += lost
            self._queue.clear()
            self._task.cancel()
        self._task = None

    def stats(self) -> PipelineStats:
        """The counters now."""
        now = time.monotonic()
        return PipelineStats(
            events_in=self._in,
            written=self._written,
            dropped=self._dropped,
            invalid=self._invalid,
            failed=self._failed,
            batches=self._batches,
            queue_depth=len(self._queue),
            lag_seconds=now - self._queue[0][1] if self._queue else 0.0,
            last_commit_lag_seconds=self._commit_lag,
        )

    # -- writer side -----------------------------------------------------------------

    async def _run(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._idle.set()
                self._flush_now = False
                if self._stopping:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if len(queue) < self._batch_size and not (self._stopping or self._flush_now):
                remaining = queue[0][1] + self._batch_seconds - time.monotonic()
                if remaining > 0:
                    self._wakeup.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wakeup.wait(), remaining)
                    continue
            size = min(self._batch_size, len(queue))
            items = [queue.popleft() for _ in range(size)]
            self._space.set()
            oldest = items[0][1]
            await self._write([event for event, _ in items])
            self._commit_lag = time.monotonic() - oldest
            self._batches += 1

    async def _write(self, events: Sequence[Event]) -> None:
        attempt = 0
        while True:
            try:
                result = await self._store.run_write(lambda conn: self._writer.write(conn, events))
            except asyncio.CancelledError:
                self._writer.rolled_back()
                raise
            except Exception as exc:
                self._writer.rolled_back()
                if _is_transient(exc):
                    attempt += 1
                    delay = min(MAX_BACKOFF, 0.25 * 2**attempt)
                    log.warning(
                        "writing %d events failed (%s); retry %d in %.1fs",
                        len(events),
                        str(exc).splitlines()[0],
                        attempt,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    continue
                if len(events) == 1:
                    self._failed += 1
                    log.exception("event rejected by the database and dropped: %r", events[0])
                    return
                middle = len(events) // 2
                await self._write(events[:middle])
                await self._write(events[middle:])
                return
            self._writer.committed()
            self._written += len(events)
            self.totals.add(result)
            if self._on_written is not None:
                self._on_written(result)
            return
