"""Migrations upgrade a database that already holds data, without losing any of it."""

from __future__ import annotations

from sqlalchemy import text

from bot.store import migrate
from bot.store.engine import create_engines
from bot.store.store import Store


async def test_upgrading_a_populated_database_keeps_every_row(
    backend: tuple[str, str | None],
) -> None:
    """0001 with members, messages and reactions, upgraded to head: nothing cascades away."""
    url, schema = backend
    engines = create_engines(url, schema=schema)
    try:
        await migrate.upgrade(engines.write, "0001")
        async with engines.write.begin() as conn:
            await conn.execute(
                text("INSERT INTO communities (platform, platform_id) VALUES ('discord', 'g')")
            )
            await conn.execute(
                text("INSERT INTO channels (community_id, platform_id) VALUES (1, 'c')")
            )
            await conn.execute(
                text(
                    "INSERT INTO members (platform, platform_id, display_name) "
                    "VALUES ('discord', 'u1', 'alice')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO memberships (community_id, member_id, consent_profiling) "
                    "VALUES (1, 1, true)"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO messages (channel_id, platform_id, member_id, ts, text) "
                    "VALUES (1, 'm1', 1, CURRENT_TIMESTAMP, 'hello')"
                )
            )
            await conn.execute(
                text(
                    "INSERT INTO reactions (channel_id, message_platform_id, member_id, emoji, ts) "
                    "VALUES (1, 'm1', 1, 'x', CURRENT_TIMESTAMP)"
                )
            )
        before, after = await migrate.upgrade(engines.write)
        assert (before, after) == ("0001", migrate.head_revision())
        async with engines.read.connect() as conn:
            for table in ("members", "memberships", "messages", "reactions"):
                assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar() == 1
            person = (await conn.execute(text("SELECT person_id FROM members"))).scalar()
            assert person is None
    finally:
        await engines.dispose()
    store = await Store.open(url, schema=schema)  # foreign keys enforced again afterwards
    try:
        async with store.read() as conn:
            if store.dialect == "sqlite":
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await store.close()
