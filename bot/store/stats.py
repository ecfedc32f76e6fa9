"""Counts for `cohort stats`: rows per table, and activity per community."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

# Internal bookkeeping, not interesting to operators.
HIDDEN_TABLES = frozenset({"cohort_meta", "seen_events"})


async def table_counts(conn: AsyncConnection) -> dict[str, int]:
    """Rows per table, in schema order."""
    counts: dict[str, int] = {}
    for name, table in s.metadata.tables.items():
        if name in HIDDEN_TABLES:
            continue
        counts[name] = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
    return counts


async def community_counts(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Per community: channels, members, consents, messages and reactions.

    Totals are stored rows plus anonymous counts; reactions are the current ones
    (stored and not removed, plus the anonymous tallies).
    """
    c = s.communities

    def per_community(query: Any) -> Any:
        return query.scalar_subquery()

    channels = per_community(
        select(func.count()).select_from(s.channels).where(s.channels.c.community_id == c.c.id)
    )
    members = per_community(
        select(func.count())
        .select_from(s.memberships)
        .where(s.memberships.c.community_id == c.c.id)
    )
    profiled = per_community(
        select(func.count())
        .select_from(s.memberships)
        .where(s.memberships.c.community_id == c.c.id, s.memberships.c.consent_profiling.is_(True))
    )
    dm = per_community(
        select(func.count())
        .select_from(s.memberships)
        .where(s.memberships.c.community_id == c.c.id, s.memberships.c.consent_dm.is_(True))
    )
    daily = s.channel_daily.join(s.channels, s.channels.c.id == s.channel_daily.c.channel_id)
    anonymous = per_community(
        select(func.coalesce(func.sum(s.channel_daily.c.anonymous_messages), 0))
        .select_from(daily)
        .where(s.channels.c.community_id == c.c.id)
    )
    anonymous_reactions = per_community(
        select(func.coalesce(func.sum(s.reaction_tallies.c.anonymous_count), 0))
        .select_from(
            s.reaction_tallies.join(s.channels, s.channels.c.id == s.reaction_tallies.c.channel_id)
        )
        .where(s.channels.c.community_id == c.c.id)
    )
    stored = per_community(
        select(func.count())
        .select_from(s.messages.join(s.channels, s.channels.c.id == s.messages.c.channel_id))
        .where(s.channels.c.community_id == c.c.id)
    )
    stored_reactions = per_community(
        select(func.count())
        .select_from(s.reactions.join(s.channels, s.channels.c.id == s.reactions.c.channel_id))
        .where(s.channels.c.community_id == c.c.id, s.reactions.c.removed.is_(False))
    )
    joins = per_community(
        select(func.coalesce(func.sum(s.community_daily.c.joins), 0)).where(
            s.community_daily.c.community_id == c.c.id
        )
    )
    query = select(
        c.c.platform,
        c.c.platform_id,
        c.c.name,
        channels.label("channels"),
        members.label("members"),
        profiled.label("profiling_consents"),
        dm.label("dm_consents"),
        (stored + anonymous).label("messages"),
        stored.label("stored_messages"),
        anonymous.label("anonymous_messages"),
        (stored_reactions + anonymous_reactions).label("reactions"),
        joins.label("joins"),
    ).order_by(c.c.platform, c.c.platform_id)
    rows = (await conn.execute(query)).mappings().all()
    return [
        {
            key: (int(value) if key not in {"platform", "platform_id", "name"} else value)
            for key, value in row.items()
        }
        for row in rows
    ]


async def recent_activity(conn: AsyncConnection, community_id: int, since: Any) -> dict[str, int]:
    """Messages (stored and anonymous), joins and leaves of a community since a time."""
    ch, m, d, cd = s.channels.c, s.messages.c, s.channel_daily.c, s.community_daily.c
    stored = await conn.scalar(
        select(func.count())
        .select_from(s.messages.join(s.channels, ch.id == m.channel_id))
        .where(ch.community_id == community_id, m.ts >= since)
    )
    anonymous = await conn.scalar(
        select(func.coalesce(func.sum(d.anonymous_messages), 0))
        .select_from(s.channel_daily.join(s.channels, ch.id == d.channel_id))
        .where(ch.community_id == community_id, d.day >= since.date())
    )
    joins, leaves = (
        await conn.execute(
            select(
                func.coalesce(func.sum(cd.joins), 0), func.coalesce(func.sum(cd.leaves), 0)
            ).where(cd.community_id == community_id, cd.day >= since.date())
        )
    ).one()
    return {
        "messages": int(stored or 0) + int(anonymous or 0),
        "joins": int(joins),
        "leaves": int(leaves),
    }
