"""Where live ingestion stopped: the newest stored message per channel and thread.

The Discord adapter backfills what was posted while it was away from the message
after these ids. Ids are platform snowflakes, compared as numbers.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, cast, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

# (channel platform id, thread platform id or None for the channel itself)
Place = tuple[str, str | None]


async def latest_message_ids(
    conn: AsyncConnection, platform: str, community: str
) -> dict[Place, int]:
    """The newest stored message id per (channel, thread) of one community.

    Messages in a thread are stored under the parent channel with `thread` set, so a
    thread has its own entry; `None` is the channel itself. Ids must be numeric (snowflakes).
    """
    m, c, k = s.messages.c, s.channels.c, s.communities.c
    newest = func.max(cast(m.platform_id, BigInteger))
    query = (
        select(c.platform_id, m.thread, newest)
        .select_from(
            s.messages.join(s.channels, m.channel_id == c.id).join(
                s.communities, c.community_id == k.id
            )
        )
        .where(k.platform == platform, k.platform_id == community)
        .group_by(c.platform_id, m.thread)
    )
    return {
        (str(channel), thread): int(latest)
        for channel, thread, latest in await conn.execute(query)
        if latest is not None
    }
