"""Who a message may be addressed to in a community: DM opt-ins and current members.

Only memberships are read here; consent to profiling is the gate's to decide, and
frequency caps, cooldowns and quiet hours the delivery policy's.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

_CHUNK = 900  # ids per statement: below SQLite's bound-parameter limit


async def dm_audience(conn: AsyncConnection, community_id: int) -> list[int]:
    """Members of a community who opted in to DMs and have not left, by row id."""
    ms = s.memberships.c
    result = await conn.execute(
        select(ms.member_id).where(
            ms.community_id == community_id,
            ms.consent_dm.is_(True),
            or_(ms.left_at.is_(None), ms.joined_at > ms.left_at),
        )
    )
    return sorted(result.scalars())


async def still_members(
    conn: AsyncConnection, community_id: int, member_ids: Collection[int]
) -> set[int]:
    """The members among `member_ids` who are in the community now (not left since)."""
    ms = s.memberships.c
    ids = list(member_ids)
    current: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        result = await conn.execute(
            select(ms.member_id).where(
                ms.community_id == community_id,
                ms.member_id.in_(ids[start : start + _CHUNK]),
                or_(ms.left_at.is_(None), ms.joined_at > ms.left_at),
            )
        )
        current.update(result.scalars())
    return current
