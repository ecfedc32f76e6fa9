"""Reading what training needs: stored activity, interactions, the catalog, channel topics.

Everything here reads rows of members the consent gate let through (only they have
rows); anonymous aggregates are read separately for channel-level profiles. Members
are identified by their row id (as text) on the way out: the recommender's
artifacts never hold platform ids, and the bot maps row ids back when it speaks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

# Interaction kinds that say "this member wants this course", and how much.
POSITIVE_WEIGHTS = {"purchase": 1.0, "interest": 0.6, "click": 0.3}


@dataclass(frozen=True, slots=True)
class CommunityRow:
    """A community: row id, platform identity and name."""

    id: int
    platform: str
    platform_id: str
    name: str | None
    timezone: str


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A stored member with their earliest join and current names."""

    id: int
    platform: str
    platform_id: str
    display_name: str | None
    locale: str | None
    joined_at: datetime | None
    person_id: int | None = None


async def communities(conn: AsyncConnection) -> list[CommunityRow]:
    """Every community, ordered by platform and id."""
    c = s.communities.c
    result = await conn.execute(
        select(c.id, c.platform, c.platform_id, c.name, c.timezone).order_by(c.platform, c.id)
    )
    return [CommunityRow(*row) for row in result]


async def members(conn: AsyncConnection, community: int | None = None) -> list[MemberRow]:
    """Stored members (of one community, or all) with their earliest join time."""
    m, ms = s.members.c, s.memberships.c
    query = (
        select(
            m.id,
            m.platform,
            m.platform_id,
            m.display_name,
            m.locale,
            func.min(ms.joined_at),
            m.person_id,
        )
        .select_from(s.members.join(s.memberships, ms.member_id == m.id))
        .group_by(m.id, m.platform, m.platform_id, m.display_name, m.locale, m.person_id)
        .order_by(m.id)
    )
    if community is not None:
        query = query.where(ms.community_id == community)
    return [MemberRow(*row) for row in await conn.execute(query)]


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A stored message, with what the activity log needs."""

    key: str  # "<channel row id>:<platform message id>", unique across channels
    member: int
    channel: int
    community: int
    ts: datetime
    text: str
    reply_to: str | None  # the parent's key
    reactions: int


async def messages(
    conn: AsyncConnection, community: int | None = None, since: datetime | None = None
) -> AsyncIterator[StoredMessage]:
    """Stored, not deleted messages in time order, with the reactions each received."""
    msg, ch = s.messages.c, s.channels.c
    stored_reactions = (
        select(func.count())
        .select_from(s.reactions)
        .where(
            s.reactions.c.channel_id == msg.channel_id,
            s.reactions.c.message_platform_id == msg.platform_id,
            s.reactions.c.removed.is_(False),
        )
        .scalar_subquery()
    )
    anonymous_reactions = (
        select(func.coalesce(func.sum(s.reaction_tallies.c.anonymous_count), 0))
        .where(
            s.reaction_tallies.c.channel_id == msg.channel_id,
            s.reaction_tallies.c.message_platform_id == msg.platform_id,
        )
        .scalar_subquery()
    )
    query = (
        select(
            msg.channel_id,
            msg.platform_id,
            msg.member_id,
            ch.community_id,
            msg.ts,
            msg.text,
            msg.reply_to,
            stored_reactions + anonymous_reactions,
        )
        .select_from(s.messages.join(s.channels, ch.id == msg.channel_id))
        .where(msg.deleted_at.is_(None))
        .order_by(msg.ts, msg.id)
    )
    if community is not None:
        query = query.where(ch.community_id == community)
    if since is not None:
        query = query.where(msg.ts >= since)
    result = await conn.stream(query.execution_options(yield_per=5000))
    async for channel, platform_id, member, community_id, ts, text, reply_to, reactions in result:
        yield StoredMessage(
            key=f"{channel}:{platform_id}",
            member=member,
            channel=channel,
            community=community_id,
            ts=ts,
            text=text or "",
            reply_to=f"{channel}:{reply_to}" if reply_to else None,
            reactions=int(reactions or 0),
        )


async def reactions(
    conn: AsyncConnection, community: int | None = None, since: datetime | None = None
) -> list[tuple[int, int | None, datetime]]:
    """(reactor, author of the message or None, time) of current stored reactions."""
    r, msg, ch = s.reactions.c, s.messages.c, s.channels.c
    query = (
        select(r.member_id, msg.member_id, r.ts)
        .select_from(
            s.reactions.join(s.channels, ch.id == r.channel_id).outerjoin(
                s.messages,
                and_(msg.channel_id == r.channel_id, msg.platform_id == r.message_platform_id),
            )
        )
        .where(r.removed.is_(False))
        .order_by(r.ts)
    )
    if community is not None:
        query = query.where(ch.community_id == community)
    if since is not None:
        query = query.where(r.ts >= since)
    return [(row[0], row[1], row[2]) for row in await conn.execute(query)]


async def mentions(conn: AsyncConnection) -> dict[str, list[int]]:
    """Mentioned member ids per message key."""
    result = await conn.execute(
        select(s.mentions.c.channel_id, s.mentions.c.message_platform_id, s.mentions.c.member_id)
    )
    out: dict[str, list[int]] = {}
    for channel, message, member in result:
        out.setdefault(f"{channel}:{message}", []).append(member)
    return out


async def existing_members(conn: AsyncConnection, ids: list[int]) -> set[int]:
    """Which of the member row ids still exist (the rest were erased)."""
    found: set[int] = set()
    for start in range(0, len(ids), 900):
        result = await conn.execute(
            select(s.members.c.id).where(s.members.c.id.in_(ids[start : start + 900]))
        )
        found.update(result.scalars())
    return found


async def interactions(conn: AsyncConnection) -> list[tuple[int, str, str, datetime]]:
    """(member, course, kind, time) of identified positive interactions."""
    i = s.interactions.c
    result = await conn.execute(
        select(i.member_id, i.course_id, i.kind, i.ts)
        .where(i.member_id.is_not(None), i.kind.in_(list(POSITIVE_WEIGHTS)))
        .order_by(i.ts, i.id)
    )
    return [(row[0], row[1], row[2], row[3]) for row in result]


async def channel_terms(
    conn: AsyncConnection, since: datetime | None = None
) -> dict[int, dict[str, int]]:
    """Anonymous term counts per channel (text Cohort does not keep), summed over weeks."""
    t = s.channel_terms.c
    query = select(t.channel_id, t.term, func.sum(t.count)).group_by(t.channel_id, t.term)
    if since is not None:
        query = query.where(t.week >= since.date())
    out: dict[int, dict[str, int]] = {}
    for channel, term, count in await conn.execute(query):
        out.setdefault(channel, {})[term] = int(count)
    return out
