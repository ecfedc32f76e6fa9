"""Engines for SQLite (WAL, busy timeout, one writer thread) and PostgreSQL (a pool).

SQLite gets three engines on the same file: a synchronous one (pysqlite) that the
event writer uses from its own thread, an async one for occasional writes from
services, and an async pool of readers. Writers take the write lock up front
(`BEGIN IMMEDIATE`) so a transaction never fails half-way when upgrading from a
read lock; busy_timeout arbitrates between writers. PostgreSQL gets one pooled
async engine for everything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

# Every SQLite connection gets these (the benchmark's raw baseline uses them too).
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA secure_delete=ON",  # erased rows are overwritten, not left in free pages
    "PRAGMA cache_size=-65536",  # 64 MiB page cache: B-tree pages stay in memory
    "PRAGMA wal_autocheckpoint=10000",  # checkpoint every ~40 MB of WAL, not every 4 MB
    "PRAGMA journal_size_limit=67108864",  # and shrink the WAL back to 64 MB after
)


@contextmanager
def full_sync(conn: Connection) -> Iterator[None]:
    """SQLite: `synchronous=FULL` on `conn` while the block runs, `NORMAL` again after.

    Enter it before the transaction begins.

    WAL with `NORMAL` loses nothing when the process dies, but the last commits may
    be lost to a power cut or an OS crash; `FULL` syncs the log at every commit.
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA synchronous=FULL")
    try:
        yield
    finally:
        raw.execute("PRAGMA synchronous=NORMAL")


@dataclass(frozen=True, slots=True)
class Engines:
    """The engines of one database.

    `write` and `read` are async (the same engine on PostgreSQL); `sync_write` is the
    SQLite event writer's synchronous engine (None on PostgreSQL).
    """

    write: AsyncEngine
    read: AsyncEngine
    sync_write: Engine | None = None

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.write.dialect.name

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.write.dispose()
        if self.read is not self.write:
            await self.read.dispose()
        if self.sync_write is not None:
            self.sync_write.dispose()


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so that BEGIN is ours (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)


def _sqlite_async(url: str, *, pool_size: int, busy_timeout_ms: int, begin: str) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)
    _configure_sqlite(engine.sync_engine, busy_timeout_ms=busy_timeout_ms, begin=begin)
    return engine


def create_engines(
    url: str,
    *,
    pool_size: int = 5,
    busy_timeout_ms: int = 5000,
    schema: str | None = None,
) -> Engines:
    """Build the engines for `url` (`sqlite+aiosqlite://` or `postgresql+asyncpg://`).

    `schema` sets PostgreSQL's search_path (tests use a fresh schema per run).
    """
    if url.startswith("sqlite"):
        write = _sqlite_async(
            url, pool_size=1, busy_timeout_ms=busy_timeout_ms, begin="BEGIN IMMEDIATE"
        )
        read = _sqlite_async(
            url, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms, begin="BEGIN"
        )
        sync_write = create_engine(
            "sqlite://" + url.split("://", 1)[1],
            pool_size=1,
            max_overflow=0,
            # The writer thread creates the connection; closing happens from the loop.
            connect_args={"check_same_thread": False},
        )
        _configure_sqlite(sync_write, busy_timeout_ms=busy_timeout_ms, begin="BEGIN IMMEDIATE")
        return Engines(write=write, read=read, sync_write=sync_write)
    connect_args: dict[str, Any] = {}
    if schema:
        connect_args["server_settings"] = {"search_path": schema}
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args=connect_args,
    )
    return Engines(write=engine, read=engine)
