"""Background jobs: a failing pass does not stop a job; the runner stops them all; digests."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.core.jobs import Job, JobRunner, background_jobs, run_due_digests, run_job
from bot.core.services.digest import STALE, DigestReport
from bot.core.services.suite import Services
from bot.store import runs
from bot.store import schema as s
from bot.store.communities import CommunityInfo, find_community
from tests.core.services.conftest import NOW, Clock, load_catalog
from tests.fakes.transport import RecordingTransport
from tests.helpers import consent, rows, write


async def test_run_job_keeps_going_after_a_failing_pass() -> None:
    """A pass that raises is logged; the next passes run as usual until stop is set."""
    stop = asyncio.Event()
    calls: list[int] = []

    async def work() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("one bad row")
        if len(calls) == 3:
            stop.set()

    await asyncio.wait_for(run_job(Job("flaky", 0.0, work), stop), 10)
    assert calls == [0, 1, 2]


async def test_run_job_waits_for_its_delay_and_stops_during_it() -> None:
    """A job whose stop comes during its first delay never runs."""
    stop = asyncio.Event()
    calls: list[int] = []

    async def work() -> None:
        calls.append(1)

    task = asyncio.create_task(run_job(Job("later", 0.0, work, delay=3600.0), stop))
    await asyncio.sleep(0)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert calls == []


async def test_runner_stop_lets_passes_finish_and_cancels_stuck_ones() -> None:
    """stop() ends every task: idle loops at once, a stuck pass by cancellation."""
    started = asyncio.Event()
    finished: list[str] = []

    async def quick() -> None:
        finished.append("quick")

    async def stuck() -> None:
        started.set()
        await asyncio.Event().wait()  # never returns by itself

    runner = JobRunner([Job("quick", 3600.0, quick), Job("stuck", 3600.0, stuck)])
    runner.start()
    await asyncio.wait_for(started.wait(), 10)
    tasks = list(runner._tasks)
    assert [t.get_name() for t in tasks] == ["cohort-job-quick", "cohort-job-stuck"]
    await runner.stop(timeout=0.05)
    assert all(t.done() for t in tasks)
    assert not tasks[0].cancelled() and tasks[1].cancelled()
    assert finished == ["quick"]
    await runner.stop()  # stopping twice is harmless


async def test_background_jobs_are_named_and_periodic(services: Services) -> None:
    """`cohort run` gets the delivery, digest, attribution, retention and consent jobs."""
    jobs = background_jobs(services, {})
    assert [job.name for job in jobs] == [
        "deliveries",
        "digests",
        "attribution",
        "retention",
        "consent reload",
    ]
    assert all(job.every > 0 for job in jobs)


async def test_run_due_digests_runs_each_due_digest_once(services: Services, clock: Clock) -> None:
    """Due digests run once; a second call (or another instance) finds nothing to do."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(
        cohort,
        consent("u1", True, True),
        consent("t1", True, True, platform="telegram", community="-100"),
    )
    assert await run_due_digests(services) == 2  # Monday 09:00 UTC was three hours ago
    assert await run_due_digests(services) == 0
    other = Services.build(cohort, models=services.context.models, clock=clock, instance="b")
    assert await run_due_digests(other) == 0
    statuses = await rows(cohort, select(s.scheduled_runs.c.status, s.scheduled_runs.c.period))
    assert sorted(statuses) == [("done", "2026-11-23T09:00:00+00:00")] * 2
    dms = await rows(cohort, select(s.outbox.c.member_id).where(s.outbox.c.kind == "dm"))
    assert len(dms) == 2

    clock.now = NOW + timedelta(days=7)  # next Monday: a new period
    assert await run_due_digests(services) == 2


async def test_one_failing_digest_does_not_hold_up_the_others(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A community whose digest fails is skipped this pass; the next community still runs."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(
        cohort,
        consent("u1", True, True),
        consent("t1", True, True, platform="telegram", community="-100"),
    )
    real = services.digest.run

    async def run(community: CommunityInfo, period: datetime) -> DigestReport:
        if community.platform == "discord":
            raise RuntimeError("bad data")
        return await real(community, period)

    monkeypatch.setattr(services.digest, "run", run)
    assert await run_due_digests(services) == 1
    dms = await rows(cohort, select(s.outbox.c.payload).where(s.outbox.c.kind == "dm"))
    assert [d[0]["platform"] for d in dms] == ["telegram"]


async def test_run_due_digests_resumes_an_interrupted_run(services: Services, clock: Clock) -> None:
    """A run left claimed by a dead instance is picked up again once it is stale."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(cohort, consent("u1", True, True))
    async with cohort.store.read() as conn:
        community = await find_community(conn, "discord", "g1")
    assert community is not None
    [(_, period)] = await services.digest.due(clock.now)
    async with cohort.store.write() as conn:  # an instance claims the run, then dies
        await runs.claim(
            conn, "digest", str(community.id), period.isoformat(), "dead", clock.now, STALE
        )
    assert await run_due_digests(services) == 0
    clock.advance(seconds=STALE.total_seconds())
    assert await run_due_digests(services) == 1
    dms = await rows(cohort, select(s.outbox.c.member_id).where(s.outbox.c.kind == "dm"))
    assert len(dms) == 1


async def test_delivery_job_drains_the_outbox(services: Services) -> None:
    """The `deliveries` job sends what the digests queued, through the platform's transport."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(cohort, consent("u1", True, True))
    await run_due_digests(services)
    transport = RecordingTransport()
    [deliveries] = [j for j in background_jobs(services, {"discord": transport}) if j.every == 5]
    await deliveries.work()
    assert [d.recipient for d in transport.sent] == ["u1"]
