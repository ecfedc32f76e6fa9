"""Small named values the bot keeps between runs (`cohort_meta`), such as a sync hash."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

MAX_KEY = 64


async def get_value(conn: AsyncConnection, key: str) -> str | None:
    """The value stored under `key`, or None."""
    value = await conn.scalar(select(s.meta.c.value).where(s.meta.c.key == key))
    return None if value is None else str(value)


async def set_value(conn: AsyncConnection, key: str, value: str) -> None:
    """Store `value` under `key`, replacing what was there (call in a write transaction)."""
    if len(key) > MAX_KEY:
        raise ValueError(f"key longer than {MAX_KEY} characters: {key!r}")
    await conn.execute(delete(s.meta).where(s.meta.c.key == key))
    await conn.execute(s.meta.insert().values(key=key, value=value))
