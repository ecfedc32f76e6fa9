"""A community's channels: their platform ids, names and row ids."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


async def community_channels(
    conn: AsyncConnection, community_id: int
) -> list[tuple[str, str | None]]:
    """(platform id, name) of every channel of a community, by name."""
    ch = s.channels.c
    result = await conn.execute(
        select(ch.platform_id, ch.name)
        .where(ch.community_id == community_id)
        .order_by(ch.name, ch.platform_id)
    )
    return [(platform_id, name) for platform_id, name in result]


async def channel_row(conn: AsyncConnection, community_id: int, channel: str) -> int | None:
    """A channel's row id (None: Cohort has not seen the channel in this community)."""
    ch = s.channels.c
    return await conn.scalar(
        select(ch.id).where(ch.community_id == community_id, ch.platform_id == channel)
    )
