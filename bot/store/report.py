"""SQL for `cohort report` and the `/insights` chart: activity, graph edges, picks, deliveries.

Every query is scoped to one community and returns plain tuples or dicts; grouping
by hour happens in the database (the UTC hour as `YYYY-MM-DD HH` text on both
backends), the shift to the community's time zone in the caller.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import String, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


def _utc_hour(conn: AsyncConnection, column: Any) -> Any:
    """`column` (a UTC timestamp) as `YYYY-MM-DD HH` text in UTC."""
    if conn.dialect.name == "sqlite":  # stored as naive UTC text `YYYY-MM-DD HH:MM:SS...`
        return func.substr(column, 1, 13, type_=String)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD HH24", type_=String)


async def channel_names(conn: AsyncConnection, community_id: int) -> dict[int, str]:
    """Each channel's row id → its name (its platform id when it has none)."""
    ch = s.channels.c
    result = await conn.execute(
        select(ch.id, ch.name, ch.platform_id).where(ch.community_id == community_id)
    )
    return {int(row[0]): row[1] or row[2] for row in result}


async def hourly_messages(
    conn: AsyncConnection, community_id: int, since: datetime
) -> list[tuple[int, datetime, int]]:
    """Stored messages per (channel row id, UTC hour as an aware datetime) since `since`."""
    m, ch = s.messages.c, s.channels.c
    hour = _utc_hour(conn, m.ts).label("hour")
    result = await conn.execute(
        select(m.channel_id, hour, func.count())
        .select_from(s.messages.join(s.channels, ch.id == m.channel_id))
        .where(ch.community_id == community_id, m.ts >= since)
        .group_by(m.channel_id, hour)
    )
    return [
        (int(channel), datetime.strptime(text, "%Y-%m-%d %H").replace(tzinfo=UTC), int(count))
        for channel, text, count in result
    ]


async def daily_anonymous(
    conn: AsyncConnection, community_id: int, since: date
) -> list[tuple[int, date, int]]:
    """Anonymously counted messages per (channel row id, day) from `since` on."""
    d, ch = s.channel_daily.c, s.channels.c
    result = await conn.execute(
        select(d.channel_id, d.day, d.anonymous_messages)
        .select_from(s.channel_daily.join(s.channels, ch.id == d.channel_id))
        .where(ch.community_id == community_id, d.day >= since, d.anonymous_messages > 0)
    )
    return [(int(channel), day, int(count)) for channel, day, count in result]


async def interaction_edges(
    conn: AsyncConnection, community_id: int, member_ids: Collection[int]
) -> dict[tuple[int, int], int]:
    """Attention between the given members in a community: (from, to) → count.

    A reply, a mention and a (current) reaction each count once, from the member who
    gave the attention to the member who received it; self-attention is left out.
    """
    ids = list(member_ids)
    if not ids:
        return {}
    m, ch = s.messages.c, s.channels.c
    target = s.messages.alias("target")
    in_community = s.channels.c.community_id == community_id
    edges: dict[tuple[int, int], int] = {}

    def add(rows: Any) -> None:
        for source, sink, count in rows:
            if source != sink:
                key = (int(source), int(sink))
                edges[key] = edges.get(key, 0) + int(count)

    replies = (
        select(m.member_id, target.c.member_id, func.count())
        .select_from(
            s.messages.join(s.channels, ch.id == m.channel_id).join(
                target,
                and_(target.c.channel_id == m.channel_id, target.c.platform_id == m.reply_to),
            )
        )
        .where(in_community, m.member_id.in_(ids), target.c.member_id.in_(ids))
        .group_by(m.member_id, target.c.member_id)
    )
    add(await conn.execute(replies))
    n = s.mentions.c
    mentions = (
        select(m.member_id, n.member_id, func.count())
        .select_from(
            s.mentions.join(
                s.messages,
                and_(m.channel_id == n.channel_id, m.platform_id == n.message_platform_id),
            ).join(s.channels, ch.id == m.channel_id)
        )
        .where(in_community, m.member_id.in_(ids), n.member_id.in_(ids))
        .group_by(m.member_id, n.member_id)
    )
    add(await conn.execute(mentions))
    r = s.reactions.c
    reactions = (
        select(r.member_id, m.member_id, func.count())
        .select_from(
            s.reactions.join(
                s.messages,
                and_(m.channel_id == r.channel_id, m.platform_id == r.message_platform_id),
            ).join(s.channels, ch.id == m.channel_id)
        )
        .where(in_community, r.removed.is_(False), r.member_id.in_(ids), m.member_id.in_(ids))
        .group_by(r.member_id, m.member_id)
    )
    add(await conn.execute(reactions))
    return edges


async def impressions_by_course(
    conn: AsyncConnection, community_id: int, since: datetime
) -> dict[str, int]:
    """Picks shown per course in a community since `since`."""
    i = s.interactions.c
    result = await conn.execute(
        select(i.course_id, func.count())
        .where(i.kind == "impression", i.community_id == community_id, i.ts >= since)
        .group_by(i.course_id)
    )
    return {row[0]: int(row[1]) for row in result}


async def active_course_titles(conn: AsyncConnection) -> dict[str, str]:
    """Every active course's id → title."""
    c = s.courses.c
    result = await conn.execute(select(c.id, c.title).where(c.active.is_(True)))
    return {row[0]: row[1] for row in result}


async def delivery_counts(
    conn: AsyncConnection, community_id: int, since: datetime
) -> dict[str, int]:
    """Outbox deliveries of a community queued since `since`, by status."""
    o = s.outbox.c
    result = await conn.execute(
        select(o.status, func.count())
        .where(o.community_id == community_id, o.created_at >= since)
        .group_by(o.status)
    )
    return {row[0]: int(row[1]) for row in result}
