"""Apply Alembic migrations on an async engine; the CLI and the app call `upgrade`."""

from __future__ import annotations

import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at Cohort's migrations, bound to `connection`."""
    config = Config()
    config.set_main_option("script_location", "bot.store:migrations")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision in the migration history."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate the database to `revision`; returns (before, after).

    On SQLite, Alembic changes a table by copying it into a new one and dropping the
    old; with foreign keys enforced, that drop would cascade-delete every row that
    references the table. So, as SQLite's documentation prescribes, foreign keys are
    switched off around the migration (outside any transaction) and checked after.
    """

    def run(connection: Connection) -> tuple[str | None, str | None]:
        before = _current(connection)
        command.upgrade(alembic_config(connection), revision)
        return before, _current(connection)

    async with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            async with conn.begin():
                before, after = await conn.run_sync(run)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise RuntimeError(f"migration left broken references: {broken[:5]}")
        finally:
            if sqlite:
                await raw.driver_connection.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]
    if before != after:
        log.info("database migrated from %s to %s", before or "empty", after)
    return before, after
