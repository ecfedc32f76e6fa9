"""Scheduled runs: one row per (job, scope, period), claimed before any work is done.

The unique row makes a run happen once across restarts and instances: the first to
insert it owns it; others skip it unless its heartbeat went stale (the owner died),
in which case one of them takes it over and resumes the work where it stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

CLAIMED, DONE = "claimed", "done"


@dataclass(frozen=True, slots=True)
class Run:
    """A claimed run."""

    id: int
    job: str
    scope: str
    period: str
    resumed: bool


async def claim(
    conn: AsyncConnection,
    job: str,
    scope: str,
    period: str,
    instance: str,
    now: datetime,
    stale_after: timedelta,
) -> Run | None:
    """Claim the run, or take over a stale one; None if done or owned by a live instance."""
    module: Any = sqlite if conn.dialect.name == "sqlite" else postgresql
    r = s.scheduled_runs.c
    inserted = await conn.execute(
        module.insert(s.scheduled_runs)
        .values(
            job=job,
            scope=scope,
            period=period,
            status=CLAIMED,
            claimed_by=instance,
            claimed_at=now,
            heartbeat_at=now,
        )
        .on_conflict_do_nothing(index_elements=["job", "scope", "period"])
        .returning(r.id)
    )
    new = inserted.scalar()
    if new is not None:
        return Run(new, job, scope, period, resumed=False)
    existing = (
        await conn.execute(
            select(r.id, r.status, r.heartbeat_at).where(
                r.job == job, r.scope == scope, r.period == period
            )
        )
    ).first()
    if existing is None or existing.status != CLAIMED:
        return None
    if existing.heartbeat_at is not None and existing.heartbeat_at > now - stale_after:
        return None
    taken = await conn.execute(
        update(s.scheduled_runs)
        .where(r.id == existing.id, r.status == CLAIMED, r.heartbeat_at == existing.heartbeat_at)
        .values(claimed_by=instance, heartbeat_at=now)
        .returning(r.id)
    )
    return Run(existing.id, job, scope, period, resumed=True) if taken.first() else None


async def beat(conn: AsyncConnection, run_id: int, now: datetime) -> None:
    """Tell other instances the run's owner is alive."""
    await conn.execute(
        update(s.scheduled_runs).where(s.scheduled_runs.c.id == run_id).values(heartbeat_at=now)
    )


async def finish(conn: AsyncConnection, run_id: int, now: datetime) -> None:
    """Mark the run done (its deliveries are in the outbox)."""
    await conn.execute(
        update(s.scheduled_runs)
        .where(s.scheduled_runs.c.id == run_id)
        .values(status=DONE, finished_at=now, heartbeat_at=now)
    )


async def claimable(
    conn: AsyncConnection,
    job: str,
    scope: str,
    period: str,
    now: datetime,
    stale_after: timedelta,
) -> bool:
    """Whether `claim` would get the run: never claimed, or claimed by an owner gone stale."""
    r = s.scheduled_runs.c
    existing = (
        await conn.execute(
            select(r.status, r.heartbeat_at).where(
                r.job == job, r.scope == scope, r.period == period
            )
        )
    ).first()
    if existing is None:
        return True
    if existing.status != CLAIMED:
        return False
    return existing.heartbeat_at is None or existing.heartbeat_at <= now - stale_after


async def exists(conn: AsyncConnection, job: str, scope: str, period: str) -> bool:
    """Whether a run was claimed (done or in progress)."""
    r = s.scheduled_runs.c
    return (
        await conn.scalar(select(r.id).where(r.job == job, r.scope == scope, r.period == period))
    ) is not None


@dataclass(frozen=True, slots=True)
class Found:
    """A run as it stands: its id, status and who claimed it."""

    id: int
    status: str
    claimed_by: str | None


async def find(conn: AsyncConnection, job: str, scope: str, period: str) -> Found | None:
    """The run of (job, scope, period), if it was ever claimed."""
    r = s.scheduled_runs.c
    row = (
        await conn.execute(
            select(r.id, r.status, r.claimed_by).where(
                r.job == job, r.scope == scope, r.period == period
            )
        )
    ).first()
    return None if row is None else Found(row.id, row.status, row.claimed_by)
