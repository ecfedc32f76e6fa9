"""Background work of a running bot: sending, digests, attribution, retention, consent.

Each job is a loop on the event loop with its own period; a failed pass is logged
and the next one runs as usual, so one bad row never stops the bot. Everything the
jobs do is claimed in the database first (outbox rows, digest runs), so several
instances can run them side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.core.delivery.dispatcher import Dispatcher
from bot.core.delivery.transport import Transport
from bot.core.services.suite import Services

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """A named piece of work repeated every `every` seconds (first run after `delay`)."""

    name: str
    every: float
    work: Callable[[], Awaitable[object]]
    delay: float = 0.0
    on_stop: Callable[[], None] | None = None  # asks a running pass to end early
    # Keeps this process's own state fresh: runs in every instance, not only the leader.
    per_instance: bool = False


async def run_job(job: Job, stop: asyncio.Event) -> None:
    """Repeat `job` until `stop` is set; failures are logged, not raised."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), job.delay)
    while not stop.is_set():
        try:
            await job.work()
        except Exception:
            log.exception("background job %s failed; retrying in %.0fs", job.name, job.every)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), job.every)


async def run_due_digests(services: Services) -> int:
    """Run every digest whose period is due and not yet claimed; how many ran.

    One community's failing digest does not hold up the others: it is logged, and
    its claim goes stale and is resumed by a later pass.
    """
    ran = 0
    for community, period in await services.digest.due(services.context.clock()):
        try:
            report = await services.digest.run(community, period)
        except Exception:
            log.exception("digest of %s for %s failed", community.ref, period.isoformat())
            continue
        ran += int(report.claimed)
    return ran


def background_jobs(services: Services, transports: Mapping[str, Transport]) -> list[Job]:
    """The jobs of `cohort run`: what runs besides the platform connections."""
    dispatcher = Dispatcher(services.context, transports)
    cohort = services.context.cohort
    return [
        Job("deliveries", 5.0, dispatcher.drain, on_stop=dispatcher.stop),
        Job("digests", 60.0, lambda: run_due_digests(services), delay=5.0),
        Job("attribution", 300.0, services.attribution.run, delay=30.0),
        Job("retention", 6 * 3600.0, services.privacy.purge, delay=60.0),
        Job("consent reload", 30.0, cohort.reload_consent, delay=30.0, per_instance=True),
    ]


class JobRunner:
    """Starts the jobs as tasks and stops them together."""

    def __init__(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Start every job."""
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(run_job(job, self._stop), name=f"cohort-job-{job.name}")
            for job in self.jobs
        ]
        log.info("background jobs: %s", ", ".join(job.name for job in self.jobs))

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - a stop deadline
        """Let running passes finish (up to `timeout`), then cancel what is left."""
        self._stop.set()
        for job in self.jobs:
            if job.on_stop is not None:
                job.on_stop()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        self._tasks = []
