"""Fixtures: a real SQLite file and the real PostgreSQL server, a fresh schema per test.

PostgreSQL is required: if it is unreachable the PostgreSQL tests fail, they do not
skip. Point `COHORT_TEST_POSTGRES_URL` elsewhere to use another server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from bot.app import Cohort
from bot.config import Settings, load_settings

PG_URL = os.environ.get(
    "COHORT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No test sees the developer's COHORT_* variables or config.toml."""
    for name in list(os.environ):
        if name.startswith("COHORT_") and name != "COHORT_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


class PgSchema:
    """A fresh PostgreSQL schema, dropped afterwards."""

    def __init__(self) -> None:
        self.name = f"cohort_test_{uuid.uuid4().hex[:12]}"

    async def create(self) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
        try:
            await conn.execute(f'CREATE SCHEMA "{self.name}"')
        finally:
            await conn.close()

    async def drop(self) -> None:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_URL))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')
        finally:
            await conn.close()


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, str | None]]:
    """(database url, PostgreSQL schema or None) for each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cohort.db'}", None
        return
    schema = PgSchema()
    await schema.create()
    try:
        yield PG_URL, schema.name
    finally:
        await schema.drop()


def make_settings(url: str, **sections: dict[str, object]) -> Settings:
    """Settings pointing at `url`, with section overrides."""
    return load_settings(None, database={"url": url}, **sections)


@pytest.fixture
async def cohort(backend: tuple[str, str | None]) -> AsyncIterator[Cohort]:
    """A built Cohort (opt-in privacy) on each backend, with its pipeline started."""
    url, schema = backend
    app = await Cohort.build(make_settings(url, ingest={"batch_seconds": 0.05}), schema=schema)
    app.pipeline.start()
    try:
        yield app
    finally:
        await app.close()


@pytest.fixture
async def sqlite_cohort(tmp_path: Path) -> AsyncIterator[Cohort]:
    """A built Cohort on a SQLite file only, for tests where the backend does not matter."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cohort.db'}"
    app = await Cohort.build(make_settings(url, ingest={"batch_seconds": 0.05}))
    app.pipeline.start()
    try:
        yield app
    finally:
        await app.close()
