"""One scheduler among many processes: two instances on the real PostgreSQL, one leads.

Each `Leadership` here has its own `Store` (its own pool, as two processes would) on
one fresh schema, and a real `JobRunner` whose job records which instance ran it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from bot.core.jobs import Job, JobRunner
from bot.core.leadership import Leadership
from bot.store.leader import LeaderLock, leader_key
from bot.store.store import Store
from tests.conftest import PG_URL, PgSchema

pytestmark = pytest.mark.postgres

FAST = 0.2  # poll seconds of an instance expected to take over
NEVER = 3600.0  # poll seconds of an instance that must only react to its connection ending
DSN = PG_URL.replace("postgresql+asyncpg://", "postgresql://", 1)
HOLDERS = """
    SELECT pid FROM pg_locks
    WHERE locktype = 'advisory' AND granted AND objsubid = 1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((classid::bigint << 32) | objid::bigint) = $1
"""


class CountingLock(LeaderLock):
    """The real leader lock, counting how often it was tried."""

    attempts = 0

    async def try_acquire(self, on_lost: Callable[[], None]) -> bool:
        """Count the try, then try."""
        self.attempts += 1
        return await super().try_acquire(on_lost)


@dataclass
class Instance:
    """One would-be process: its store, lock, leadership and what its job did."""

    name: str
    store: Store
    lock: CountingLock
    leadership: Leadership
    ticks: list[str] = field(default_factory=list)


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A fresh PostgreSQL schema, migrated once."""
    fresh = PgSchema()
    await fresh.create()
    try:
        store = await Store.open(PG_URL, schema=fresh.name)
        await store.close()
        yield fresh.name
    finally:
        await fresh.drop()


Factory = Callable[[str, float], Awaitable[Instance]]


@pytest.fixture
async def instances(schema: str) -> AsyncIterator[Factory]:
    """Open instances on the schema (each its own store); all stopped and closed afterwards."""
    made: list[Instance] = []

    async def make(name: str, poll: float) -> Instance:
        store = await Store.open(PG_URL, schema=schema, migrate_to_head=False)
        lock = CountingLock(store.engines.write)
        ticks: list[str] = []

        async def tick() -> None:
            ticks.append(name)

        leadership = Leadership(
            lock, lambda: JobRunner([Job("tick", 0.05, tick)]), poll_seconds=poll
        )
        made.append(Instance(name, store, lock, leadership, ticks))
        return made[-1]

    try:
        yield make
    finally:
        for instance in made:
            await instance.leadership.stop(timeout=10)
            await instance.store.close()


async def until(what: str, condition: Callable[[], bool], limit: float = 30.0) -> None:
    """Wait until `condition()` holds; fail naming `what` if it never does."""
    for _ in range(int(limit / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"never saw {what}")


async def holders(key: int | None) -> list[int]:
    """Backend pids holding the advisory lock `key` in the test database."""
    assert key is not None
    conn = await asyncpg.connect(DSN)
    try:
        return [row["pid"] for row in await conn.fetch(HOLDERS, key)]
    finally:
        await conn.close()


async def terminate(pid: int) -> None:
    """End a backend the way a dead process's connection ends, and wait until it is gone."""
    conn = await asyncpg.connect(DSN)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
    finally:
        await conn.close()


async def test_of_two_instances_exactly_one_leads_and_runs_the_jobs(instances: Factory) -> None:
    """Two instances on one database: one holds the lock and runs jobs, the other only polls."""
    first = await instances("first", FAST)
    second = await instances("second", FAST)
    first.leadership.start()
    second.leadership.start()
    await until("a leader", lambda: first.leadership.leading or second.leadership.leading)
    leader, follower = (first, second) if first.leadership.leading else (second, first)
    await until("several follower polls", lambda: follower.lock.attempts >= 5)
    await until("the leader's jobs ran", lambda: len(leader.ticks) >= 3)
    assert not follower.leadership.leading and follower.ticks == []
    assert leader.leadership.terms == 1 and follower.leadership.terms == 0
    assert len(await holders(leader.lock.key)) == 1


async def test_the_follower_takes_over_when_the_leaders_connection_ends(
    instances: Factory,
) -> None:
    """The leader's connection ends: it stops its jobs at once; the follower leads next poll."""
    first = await instances("first", NEVER)
    first.leadership.start()
    await until("the first leads", lambda: first.leadership.leading)
    second = await instances("second", FAST)
    second.leadership.start()
    await until("the second polls", lambda: second.lock.attempts >= 2)
    assert not second.leadership.leading
    (pid,) = await holders(first.lock.key)
    tried_before = second.lock.attempts
    await terminate(pid)
    # With a poll of an hour, only the driver noticing the closed connection can stop it.
    await until("the first steps down", lambda: not first.leadership.leading)
    await until("the second leads", lambda: second.leadership.leading)
    assert second.lock.attempts <= tried_before + 1  # at its first try after the death
    ticks_of_first = len(first.ticks)
    await until("the second's jobs ran", lambda: len(second.ticks) >= 3)
    assert len(first.ticks) == ticks_of_first  # the first's jobs stayed stopped
    assert await holders(second.lock.key) != [pid] and len(await holders(second.lock.key)) == 1


async def test_a_graceful_stop_hands_over_and_leaves_no_lock_in_the_pool(
    instances: Factory,
) -> None:
    """Stopping the leader releases the lock (its pooled connection keeps none); the other leads."""
    first = await instances("first", FAST)
    first.leadership.start()
    await until("the first leads", lambda: first.leadership.leading)
    second = await instances("second", FAST)
    second.leadership.start()
    await until("the second polls", lambda: second.lock.attempts >= 2)
    key = first.lock.key
    await first.leadership.stop(timeout=10)
    # The first's pool is still open; none of its connections may hold the lock.
    async with first.store.read() as conn:
        await conn.exec_driver_sql("SELECT 1")
    await until("the second leads", lambda: second.leadership.leading)
    (holder,) = await holders(key)
    async with second.store.read() as conn:
        own = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
    assert holder != own  # the lock is on the second's dedicated connection, not its pool


def test_the_lock_key_depends_on_database_and_schema() -> None:
    """Installations in other databases or schemas of one server never contend for one key."""
    key = leader_key("cohort", "public")
    assert key == leader_key("cohort", "public")
    assert len({key, leader_key("cohort", "other"), leader_key("shop", "public")}) == 3
    assert -(2**63) <= key < 2**63


async def test_an_unreachable_database_leaves_a_follower_that_keeps_trying(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No server to take the lock from: no jobs run, each try logs why, and stop returns."""
    engine = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:1/test")
    lock = CountingLock(engine)
    ticks: list[int] = []

    async def tick() -> None:
        ticks.append(1)

    leadership = Leadership(lock, lambda: JobRunner([Job("tick", 0.05, tick)]), poll_seconds=FAST)
    leadership.start()
    try:
        await until("three tries", lambda: lock.attempts >= 3)
    finally:
        await leadership.stop(timeout=10)
        await engine.dispose()
    assert not leadership.leading and ticks == [] and leadership.terms == 0
    assert "could not try the leader lock (retrying in 0.2s): " in caplog.text
