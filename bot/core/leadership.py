"""One scheduler among many processes: only the leader runs the scheduled jobs.

On PostgreSQL any number of `cohort run` instances may ingest side by side, but the
scheduled jobs (digests, attribution, retention) and the dispatcher run in one of
them only: the holder of the leader lock (`bot/store/leader.py`). So the configured
`[delivery] send_rate` holds across instances, and a digest is built once.

`Leadership` tries the lock every `poll_seconds`. The winner logs one line, starts a
fresh set of jobs and checks every `poll_seconds` that its lock connection is alive;
the moment the connection ends (noticed by the driver, or by a failed check) it stops
its jobs (the dispatcher gives back every claim it has not started sending) and goes
back to trying. The others log one line and keep trying, so one of them takes over
within `poll_seconds` of the leader's death: PostgreSQL releases a session lock as
soon as the connection that holds it closes, which `kill -9` does at once.

Jobs that keep this process's own state fresh (the consent reload) run in every
instance: pass them as `everywhere`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Protocol

from bot.core.jobs import Job, JobRunner

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 5.0


class LeaderLock(Protocol):
    """A lock at most one process holds at a time, lost when its holder's connection ends."""

    @property
    def key(self) -> int | None:
        """What identifies the lock (for the log), once known."""
        ...

    async def try_acquire(self, on_lost: Callable[[], None]) -> bool:
        """Try once; True if held now. `on_lost` is called when the hold ends by itself."""
        ...

    async def check(self) -> bool:
        """Whether the lock is still held."""
        ...

    async def release(self) -> None:
        """Give the lock up."""
        ...


class Leadership:
    """Runs the jobs `make_jobs` builds only while this process holds `lock`.

    Same interface as `JobRunner` (`start`, `stop`), so `serve` runs either.
    `make_jobs` is called at each new term: a stopped dispatcher is never reused.
    """

    def __init__(
        self,
        lock: LeaderLock,
        make_jobs: Callable[[], JobRunner],
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        everywhere: Sequence[Job] = (),
    ) -> None:
        self.lock = lock
        self.make_jobs = make_jobs
        self.poll_seconds = poll_seconds
        self.terms = 0  # how many times this process became the leader
        self._everywhere = JobRunner(list(everywhere)) if everywhere else None
        self._jobs: JobRunner | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        """Whether this process is the leader now (its jobs are running)."""
        return self._jobs is not None

    def start(self) -> None:
        """Start competing for the lock (and the jobs every instance runs)."""
        self._stop.clear()
        if self._everywhere is not None:
            self._everywhere.start()
        self._task = asyncio.create_task(self._run(), name="cohort-leadership")

    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - a stop deadline
        """Stop the jobs (gracefully, up to `timeout`), give up the lock, stop competing."""
        self._stop.set()
        if self._task is not None:
            # Waits only while a try or check talks to the database (an unreachable
            # server may take long to time out); a stop must not hang on it.
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self._step_down(timeout)
        await self.lock.release()
        if self._everywhere is not None:
            await self._everywhere.stop(timeout)

    async def _run(self) -> None:
        follower_logged = False
        lost = asyncio.Event()
        while not self._stop.is_set():
            if self._jobs is None:
                lost = asyncio.Event()  # a fresh one per term: a late signal of an old one is moot
                if await self._try_acquire(lost.set):
                    self._become_leader()
                    follower_logged = False
                elif not follower_logged:
                    log.info(
                        "follower: another instance runs the scheduled jobs and the "
                        "dispatcher; trying to take over every %gs",
                        self.poll_seconds,
                    )
                    follower_logged = True
            elif lost.is_set() or not await self.lock.check():
                log.warning(
                    "leadership lost (the leader lock's database connection ended): "
                    "stopping the scheduled jobs and the dispatcher"
                )
                await self._step_down()
                await self.lock.release()  # then poll like any follower
            await self._wait(lost)

    async def _try_acquire(self, on_lost: Callable[[], None]) -> bool:
        try:
            return await self.lock.try_acquire(on_lost)
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            log.warning(
                "could not try the leader lock (retrying in %gs): %s %s",
                self.poll_seconds,
                type(exc).__name__,
                detail,
            )
            return False

    def _become_leader(self) -> None:
        self.terms += 1
        log.info(
            "leader: this instance runs the scheduled jobs and the dispatcher (lock %s)",
            self.lock.key,
        )
        self._jobs = self.make_jobs()
        self._jobs.start()

    async def _step_down(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - a stop deadline
        jobs, self._jobs = self._jobs, None
        if jobs is not None:
            await jobs.stop(timeout)

    async def _wait(self, lost: asyncio.Event) -> None:
        """Sleep `poll_seconds`, waking early on a stop or, while leading, a lost lock."""
        waits = [asyncio.ensure_future(self._stop.wait())]
        if self._jobs is not None:
            waits.append(asyncio.ensure_future(lost.wait()))
        try:
            await asyncio.wait(
                waits, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waits:
                waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*waits, return_exceptions=True)
