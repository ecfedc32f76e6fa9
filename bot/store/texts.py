"""What a community talks about: stored message texts and anonymous term counts.

Stored texts belong to members the consent gate let through; the term counts
(`channel_terms`) hold the words of everyone else, without who said them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


async def channel_document(
    conn: AsyncConnection, community_id: int, channel: str | None, limit: int = 500
) -> str:
    """What a channel (or, without one, the whole community) talks about, as one text.

    Anonymous term counts (text Cohort does not keep) plus the latest stored messages.
    """
    ch, t, m = s.channels.c, s.channel_terms.c, s.messages.c
    channels = select(ch.id).where(ch.community_id == community_id)
    if channel is not None:
        channels = channels.where(ch.platform_id == channel)
    ids = list((await conn.execute(channels)).scalars())
    if not ids:
        return ""
    terms = await conn.execute(
        select(t.term, func.sum(t.count)).where(t.channel_id.in_(ids)).group_by(t.term)
    )
    parts = [" ".join([term] * min(int(count), 20)) for term, count in terms]
    texts = await conn.execute(
        select(m.text)
        .where(m.channel_id.in_(ids), m.text.is_not(None), m.deleted_at.is_(None))
        .order_by(m.ts.desc())
        .limit(limit)
    )
    parts.extend(text for text in texts.scalars() if text)
    return "\n".join(parts)


async def most_discussed(
    conn: AsyncConnection, community_id: int, since: datetime, limit: int = 3
) -> list[tuple[str | None, str, int, str, str]]:
    """(channel name, text, replies, author platform, author id) of the most replied-to."""
    m, ch, mb = s.messages.c, s.channels.c, s.members.c
    reply = s.messages.alias("reply")
    replies = (
        select(func.count())
        .where(reply.c.channel_id == m.channel_id, reply.c.reply_to == m.platform_id)
        .scalar_subquery()
    )
    query = (
        select(ch.name, m.text, replies.label("replies"), mb.platform, mb.platform_id)
        .select_from(
            s.messages.join(s.channels, ch.id == m.channel_id).join(s.members, mb.id == m.member_id)
        )
        .where(
            ch.community_id == community_id,
            m.ts >= since,
            m.text.is_not(None),
            m.deleted_at.is_(None),
        )
        .order_by(replies.desc(), m.ts.desc())
        .limit(limit)
    )
    return [(r[0], r[1], int(r[2]), r[3], r[4]) for r in await conn.execute(query) if int(r[2]) > 0]


async def community_texts(
    conn: AsyncConnection,
    community_id: int,
    since: datetime,
    until: datetime,
    limit: int | None = None,
) -> list[str]:
    """Stored message texts of a community in [since, until); with `limit`, the newest."""
    m, ch = s.messages.c, s.channels.c
    query = (
        select(m.text)
        .select_from(s.messages.join(s.channels, ch.id == m.channel_id))
        .where(ch.community_id == community_id, m.ts >= since, m.ts < until, m.text.is_not(None))
    )
    if limit is not None:
        query = query.order_by(m.ts.desc()).limit(limit)
    result = await conn.execute(query)
    return [text for text in result.scalars() if text]


async def community_term_counts(
    conn: AsyncConnection, community_id: int, week: date, *, onwards: bool = False
) -> dict[str, int]:
    """Anonymous term counts of a community in one week bucket (a Monday).

    With `onwards`, summed over the buckets from that week on.
    """
    t, ch = s.channel_terms.c, s.channels.c
    in_weeks = t.week >= week if onwards else t.week == week
    result = await conn.execute(
        select(t.term, func.sum(t.count))
        .select_from(s.channel_terms.join(s.channels, ch.id == t.channel_id))
        .where(ch.community_id == community_id, in_weeks)
        .group_by(t.term)
    )
    return {row[0]: int(row[1]) for row in result}
