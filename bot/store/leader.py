"""The leader lock on PostgreSQL: a session advisory lock on a dedicated connection.

Several `cohort run` instances may share one PostgreSQL database; exactly one of
them, the holder of this lock, runs the scheduled jobs and the dispatcher
(`bot/core/leadership.py` decides what to do with it). The lock is
`pg_try_advisory_lock` taken on a connection kept for the life of the process, so
PostgreSQL releases it the moment that connection ends, whatever ended it (a clean
stop, `kill -9`, a crash, `pg_terminate_backend`). The key is derived from a constant
and the database and schema names, so instances of different Cohort installations
on one server never contend.

The connection comes from the store's pool but never goes back to it: a pooled
connection would carry the session lock to whoever used it next, so it is
invalidated (really closed) on release.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

LOCK_NAME = "cohort:leader"
CHECK_TIMEOUT = 10.0  # seconds a liveness check may take before the connection counts as lost

_IDENTITY = text("SELECT current_database(), current_schema()")
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_ALIVE = text("SELECT 1")


def leader_key(database: str, schema: str) -> int:
    """The advisory lock key of a database and schema: a signed 64-bit number."""
    digest = hashlib.blake2b(
        "\0".join((LOCK_NAME, database, schema)).encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


class LeaderLock:
    """The PostgreSQL leader lock of one process (`try_acquire`, `check`, `release`).

    One task uses it at a time: the connection is not safe for concurrent use.
    """

    def __init__(self, engine: AsyncEngine, *, check_timeout: float = CHECK_TIMEOUT) -> None:
        self.engine = engine
        self.check_timeout = check_timeout
        self.key: int | None = None
        self._conn: AsyncConnection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        """Whether this process took the lock (and has not seen its connection end)."""
        return self._held

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self.engine.connect()
            try:
                # Autocommit: a session lock needs no transaction, and an idle one
                # left open for the life of the process would hold back vacuum.
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                if self.key is None:
                    database, schema = (await conn.execute(_IDENTITY)).one()
                    self.key = leader_key(str(database), str(schema))
            except BaseException:
                await conn.invalidate()
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def try_acquire(self, on_lost: Callable[[], None]) -> bool:
        """Try once to take the lock; True if this process holds it now.

        `on_lost` is called (from the event loop) as soon as the connection holding the
        lock ends, so the caller can stop leading at once. A connection error is raised;
        the connection is dropped and the next try opens a new one.
        """
        if self._held:
            return True
        try:
            conn = await self._connection()
            got = bool((await conn.execute(_TRY_LOCK, {"key": self.key})).scalar_one())
            if got:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                if driver is not None:
                    driver.add_termination_listener(lambda _connection: on_lost())
        except BaseException:
            await self._drop()
            raise
        self._held = got
        return got

    async def check(self) -> bool:
        """Whether the lock is still held: its connection answers within `check_timeout`.

        A session lock lasts as long as its session, so a live connection still holds it.
        On any error or timeout the connection is dropped and False is returned.
        """
        if not self._held or self._conn is None:
            return False
        try:
            async with asyncio.timeout(self.check_timeout):
                await self._conn.execute(_ALIVE)
        except Exception as exc:
            log.warning("leader lock connection lost: %s", _reason(exc))
            await self._drop()
            return False
        return True

    async def release(self) -> None:
        """Give the lock up (if held) and close the connection for good."""
        await self._drop()

    async def _drop(self) -> None:
        """Close the connection without returning it to the pool (that ends the lock)."""
        conn, self._conn, self._held = self._conn, None, False
        if conn is None:
            return
        try:
            await conn.invalidate()
            await conn.close()
        except Exception as exc:
            log.debug("closing the leader lock connection: %s", _reason(exc))


def _reason(exc: BaseException) -> str:
    """The first line of an error, for a one-line log."""
    detail = str(getattr(exc, "orig", exc)).strip()
    first = detail.splitlines()[0] if detail else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
