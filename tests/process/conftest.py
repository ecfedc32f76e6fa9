"""A database for `cohort` processes: a real SQLite file, or a scratch PostgreSQL database.

The `cohort` command reads its database from `config.toml` and cannot pick a
PostgreSQL schema, so each PostgreSQL test gets a whole database of its own,
created with asyncpg on the test server and dropped (`WITH (FORCE)`) afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.store.schema import metadata
from tests.conftest import PG_URL

SQLITE_URL = "sqlite+aiosqlite:///cohort.db"  # relative to the folder the process runs in


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class ProcessDatabase:
    """The database a test's processes share: its config URL and a way to query it."""

    def __init__(self, url: str, *, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.backend = "sqlite" if url.startswith("sqlite") else "postgresql"

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of `sql` (no rows while the schema does not exist yet)."""
        if self.backend == "sqlite":
            import sqlite3

            try:
                with sqlite3.connect(self.folder / "cohort.db", timeout=30) as db:
                    return [tuple(row) for row in db.execute(sql).fetchall()]
            except sqlite3.OperationalError:  # not created yet
                return []

        async def fetch() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(_dsn(self.url))
            try:
                return [tuple(row) for row in await conn.fetch(sql)]
            except asyncpg.UndefinedTableError:
                return []
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def scalar(self, sql: str) -> int:
        """The single integer `sql` returns (0 for NULL or no table yet)."""
        found = self.rows(sql)
        return int(found[0][0] or 0) if found else 0

    def dump(self) -> list[str]:
        """The whole database as text, to compare before and after a command."""
        if self.backend == "sqlite":
            import sqlite3

            with sqlite3.connect(self.folder / "cohort.db", timeout=30) as db:
                return list(db.iterdump())

        async def fetch() -> list[str]:
            conn = await asyncpg.connect(_dsn(self.url))
            try:
                out = []
                for name in sorted(metadata.tables):  # our own table names: safe to quote
                    found = await conn.fetch(f'SELECT * FROM "{name}"')
                    out += sorted(f"{name}: {tuple(row)!r}" for row in found)
                return out
            finally:
                await conn.close()

        return asyncio.run(fetch())

    def config(self, extra: str = "") -> Path:
        """Write `config.toml` in the folder: this database plus `extra` TOML."""
        path = self.folder / "config.toml"
        path.write_text(f'[database]\nurl = "{self.url}"\n{extra}', encoding="utf-8")
        return path


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(_dsn(PG_URL))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProcessDatabase]:
    """A real SQLite file in `tmp_path`, then a scratch database on the real PostgreSQL."""
    if request.param == "sqlite":
        yield ProcessDatabase(SQLITE_URL, folder=tmp_path)
        return
    name = f"cohort_scratch_{uuid.uuid4().hex[:12]}"  # generated here: safe to quote
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        yield ProcessDatabase(url, folder=tmp_path)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
