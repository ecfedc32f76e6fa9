"""The `Store`: engines, migrations, transactions and the install key, behind one object."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.errors import StoreError
from bot.store import migrate
from bot.store import schema as s
from bot.store.engine import Engines, create_engines, full_sync

log = logging.getLogger(__name__)

INSTALL_KEY = "install_key"
T = TypeVar("T")


def redact(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    if "://" not in url or "@" not in url.split("://", 1)[1]:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


class Store:
    """Cohort's database: open it with `Store.open`, always `await close()`."""

    def __init__(self, engines: Engines, url: str) -> None:
        self.engines = engines
        self.url = url
        self._key: bytes | None = None
        self._writer_thread: ThreadPoolExecutor | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int = 5,
        busy_timeout_ms: int = 5000,
        schema: str | None = None,
        migrate_to_head: bool = True,
    ) -> Store:
        """Open (and by default migrate) the database at `url`.

        Raises `StoreError` with one line if it cannot be reached or is behind and
        `migrate_to_head` is false.
        """
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:" and not Path(path).parent.is_dir():
                raise StoreError(f"database folder does not exist: {Path(path).parent}")
        engines = create_engines(
            url, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms, schema=schema
        )
        store = cls(engines, url)
        try:
            if migrate_to_head:
                await migrate.upgrade(engines.write)
            else:
                current = await migrate.current_revision(engines.write)
                if current != migrate.head_revision():
                    raise StoreError(
                        f"database {redact(url)} is at revision {current or 'empty'}, "
                        f"expected {migrate.head_revision()}: run `cohort db upgrade`"
                    )
            await store.install_key()
        except (OperationalError, DBAPIError, OSError) as exc:
            await engines.dispose()
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            raise StoreError(f"cannot open database {redact(url)}: {reason}") from exc
        except BaseException:
            await engines.dispose()
            raise
        return store

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engines.dialect

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a write transaction: committed on success, rolled back on error."""
        async with self.engines.write.begin() as conn:
            yield conn

    async def run_write(self, work: Callable[[Connection], T], *, durable: bool = False) -> T:
        """Run `work(conn)` in one write transaction; commit if it returns, roll back if not.

        SQLite: in the store's single writer thread on a synchronous connection, so the
        event loop never waits for the disk and no statement hops threads. PostgreSQL:
        on the event loop, through SQLAlchemy's bridge to asyncpg. `work` is plain
        synchronous SQLAlchemy Core either way.

        `durable`: the commit survives a power loss or OS crash, not only a crash of
        this process (SQLite: `synchronous=FULL` for this transaction, which syncs the
        write-ahead log at commit; PostgreSQL commits are durable already). For
        writes that are acknowledged to someone who will not send them again.
        """
        sync = self.engines.sync_write
        if sync is None:
            async with self.engines.write.begin() as conn:
                return await conn.run_sync(work)

        def in_transaction() -> T:
            if not durable:
                with sync.begin() as conn:
                    return work(conn)
            with sync.connect() as conn, full_sync(conn), conn.begin():
                return work(conn)

        if self._writer_thread is None:
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="cohort-writer")
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, in_transaction)

    async def checkpoint(self) -> bool | None:
        """SQLite: copy the write-ahead log into the database file and truncate it.

        Runs on the writer thread, outside any transaction. True when complete; False
        when a reader still needed part of the log (SQLite checkpoints it later);
        None on PostgreSQL, where (auto)vacuum reclaims deleted rows.
        """
        sync = self.engines.sync_write
        if sync is None:
            return None

        def work() -> bool:
            raw = sync.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                row = cursor.fetchone()
                cursor.close()
            finally:
                raw.close()
            return row is not None and row[0] == 0

        if self._writer_thread is None:
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="cohort-writer")
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, work)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads, in its own (read) transaction."""
        async with self.engines.read.connect() as conn:
            yield conn

    async def install_key(self) -> bytes:
        """The installation's secret for keyed hashes; created on first use."""
        if self._key is not None:
            return self._key
        async with self.read() as conn:
            value = await conn.scalar(select(s.meta.c.value).where(s.meta.c.key == INSTALL_KEY))
        if value is None:
            try:
                async with self.write() as conn:
                    value = secrets.token_hex(32)
                    await conn.execute(s.meta.insert().values(key=INSTALL_KEY, value=value))
            except IntegrityError:  # another process created it first
                async with self.read() as conn:
                    value = await conn.scalar(
                        select(s.meta.c.value).where(s.meta.c.key == INSTALL_KEY)
                    )
            assert value is not None
        self._key = bytes.fromhex(value)
        return self._key

    async def close(self) -> None:
        """Wait for the writer thread's current work, then close every connection."""
        if self._writer_thread is not None:
            thread, self._writer_thread = self._writer_thread, None
            await asyncio.get_running_loop().run_in_executor(None, thread.shutdown)
        await self.engines.dispose()
