"""The live ingestion pipeline: queueing, batching, backpressure, failures, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from bot.app import Cohort
from bot.core.pipeline import IngestPipeline
from bot.store import schema as s
from tests.conftest import make_settings
from tests.helpers import consent, count, message


@asynccontextmanager
async def pipeline_for(cohort: Cohort, **options: Any) -> AsyncIterator[IngestPipeline]:
    pipeline = IngestPipeline(cohort.store, cohort.writer, **options)
    pipeline.start()
    try:
        yield pipeline
    finally:
        await pipeline.stop()


async def wait_until(condition: Any, limit: float = 10.0) -> None:
    """Poll until `condition()` is true; fail after `limit` seconds (a hang, not a timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


async def test_ingest_returns_immediately_and_the_writer_commits(sqlite_cohort: Cohort) -> None:
    """ingest() only enqueues; the writer task commits the events afterwards."""
    pipeline = sqlite_cohort.pipeline
    assert pipeline.ingest(consent("u1"))
    assert pipeline.ingest(message(member="u1"))
    assert pipeline.stats().queue_depth == 2
    assert await count(sqlite_cohort, s.messages) == 0
    await pipeline.flush()
    assert await count(sqlite_cohort, s.messages) == 1
    stats = pipeline.stats()
    assert (stats.events_in, stats.written, stats.queue_depth) == (2, 2, 0)


async def test_batches_are_bounded_by_size(sqlite_cohort: Cohort) -> None:
    """1,000 queued events are written in batches of at most batch_size."""
    sizes: list[int] = []
    async with pipeline_for(
        sqlite_cohort, batch_size=100, batch_seconds=30, on_written=lambda r: sizes.append(r.events)
    ) as pipeline:
        for i in range(1000):
            pipeline.ingest(message(message=f"m{i}", member="u9"))
        await wait_until(lambda: pipeline.stats().written == 1000)
    assert max(sizes) == 100 and sum(sizes) == 1000


async def test_a_lone_event_is_written_after_the_batch_time(sqlite_cohort: Cohort) -> None:
    """Below batch_size, the writer still commits once the oldest event has waited long enough."""
    async with pipeline_for(sqlite_cohort, batch_size=500, batch_seconds=0.05) as pipeline:
        pipeline.ingest(message(member="u9"))
        await wait_until(lambda: pipeline.stats().written == 1)
        assert pipeline.stats().batches == 1


async def test_full_queue_drops_and_counts(sqlite_cohort: Cohort) -> None:
    """When the queue is full, ingest() drops the event, returns False and counts it."""
    async with pipeline_for(sqlite_cohort, queue_size=10, batch_seconds=30) as pipeline:
        accepted = [pipeline.ingest(message(member="u9")) for _ in range(15)]
        assert accepted == [True] * 10 + [False] * 5
        assert pipeline.stats().dropped == 5
        assert pipeline.stats().queue_depth == 10


async def test_submit_waits_for_room_instead_of_dropping(sqlite_cohort: Cohort) -> None:
    """submit() (used by replay) applies backpressure: nothing is dropped."""
    async with pipeline_for(sqlite_cohort, queue_size=20, batch_size=10) as pipeline:
        for i in range(200):
            assert await pipeline.submit(message(message=f"m{i}", member="u9"))
        await pipeline.flush()
        assert pipeline.stats().dropped == 0
        assert pipeline.totals.anonymous_messages == 200


async def test_stop_flushes_everything_queued(tmp_path: Path) -> None:
    """A graceful stop writes every queued event before returning, even with a long batch time."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'stop.db'}"
    cohort = await Cohort.build(make_settings(url, ingest={"batch_seconds": 60}))
    cohort.pipeline.start()
    cohort.pipeline.ingest(consent("u1"))
    for i in range(250):
        cohort.pipeline.ingest(message(message=f"m{i}", member="u1"))
    await cohort.close()
    reopened = await Cohort.build(make_settings(url))
    try:
        assert await count(reopened, s.messages) == 250
    finally:
        await reopened.close()


async def test_ingest_after_stop_is_refused(sqlite_cohort: Cohort) -> None:
    """Once stopping, new events are refused and counted as dropped, not lost silently."""
    await sqlite_cohort.pipeline.stop()
    assert not sqlite_cohort.pipeline.ingest(message())
    assert sqlite_cohort.pipeline.stats().dropped == 1


async def test_non_events_are_rejected(sqlite_cohort: Cohort) -> None:
    """ingest() refuses anything that is not a validated Event."""
    assert not sqlite_cohort.pipeline.ingest({"type": "message"})  # type: ignore[arg-type]
    assert sqlite_cohort.pipeline.stats().invalid == 1


async def test_transient_errors_are_retried_until_written(
    sqlite_cohort: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A locked database is retried with backoff; nothing is lost or failed."""
    real_write = sqlite_cohort.writer.write
    failures = {"left": 2}

    def flaky(conn: Any, events: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real_write(conn, events)

    monkeypatch.setattr(sqlite_cohort.writer, "write", flaky)
    monkeypatch.setattr("bot.core.pipeline.MAX_BACKOFF", 0.01)
    async with pipeline_for(sqlite_cohort, batch_seconds=0.01) as pipeline:
        pipeline.ingest(consent("u1"))
        pipeline.ingest(message(member="u1"))
        await wait_until(lambda: pipeline.stats().written == 2)
        assert pipeline.stats().failed == 0
    assert failures["left"] == 0
    assert await count(sqlite_cohort, s.messages) == 1


async def test_a_poison_event_is_isolated_and_the_rest_written(
    sqlite_cohort: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch the database rejects is bisected: only the offending event is dropped."""
    real_write = sqlite_cohort.writer.write

    def picky(conn: Any, events: Any) -> Any:
        if any(getattr(e, "message", "") == "poison" for e in events):
            raise IntegrityError("INSERT", {}, Exception("constraint failed"))
        return real_write(conn, events)

    monkeypatch.setattr(sqlite_cohort.writer, "write", picky)
    async with pipeline_for(sqlite_cohort, batch_size=64, batch_seconds=30) as pipeline:
        pipeline.ingest(consent("u1"))
        for i in range(40):
            pipeline.ingest(message(message="poison" if i == 17 else f"m{i}", member="u1"))
        await pipeline.flush()
        stats = pipeline.stats()
    assert (stats.written, stats.failed) == (40, 1)
    assert await count(sqlite_cohort, s.messages) == 39


async def test_counters_report_depth_and_lag(sqlite_cohort: Cohort) -> None:
    """Queue depth and the age of the oldest waiting event are visible while queued."""
    async with pipeline_for(sqlite_cohort, batch_seconds=30) as pipeline:
        pipeline.ingest(message(member="u9"))
        await asyncio.sleep(0.02)
        stats = pipeline.stats()
        assert stats.queue_depth == 1 and stats.lag_seconds > 0
        await pipeline.flush()
        assert pipeline.stats().lag_seconds == 0
