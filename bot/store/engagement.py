"""SQL for the engagement services: communities, persons, consent, ownership, audit.

A *person* is every platform identity linked to the same `persons` row, or a lone
member; caps, ownership and consent apply to the person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


@dataclass(frozen=True, slots=True)
class CommunityInfo:
    """A community's row and settings."""

    id: int
    platform: str
    platform_id: str
    name: str | None
    timezone: str
    locale: str | None
    digest_cron: str | None
    digest_channel: str | None

    @property
    def ref(self) -> str:
        """`platform:id`."""
        return f"{self.platform}:{self.platform_id}"


_COMMUNITY = select(
    s.communities.c.id,
    s.communities.c.platform,
    s.communities.c.platform_id,
    s.communities.c.name,
    s.communities.c.timezone,
    s.communities.c.locale,
    s.communities.c.digest_cron,
    s.communities.c.digest_channel,
)


async def community(conn: AsyncConnection, platform: str, platform_id: str) -> CommunityInfo | None:
    """A community by platform identity."""
    row = (
        await conn.execute(
            _COMMUNITY.where(
                s.communities.c.platform == platform, s.communities.c.platform_id == platform_id
            )
        )
    ).first()
    return None if row is None else CommunityInfo(*row)


COMMUNITY_SETTINGS = frozenset({"digest_cron", "digest_channel", "timezone", "locale"})


async def update_community(
    conn: AsyncConnection, community_id: int, changes: dict[str, Any]
) -> None:
    """Change a community's settings (only the names in `COMMUNITY_SETTINGS`)."""
    unknown = set(changes) - COMMUNITY_SETTINGS
    if unknown:
        raise ValueError(f"not a community setting: {', '.join(sorted(unknown))}")
    await conn.execute(
        update(s.communities).where(s.communities.c.id == community_id).values(**changes)
    )


async def community_by_id(conn: AsyncConnection, community_id: int) -> CommunityInfo | None:
    """A community by row id."""
    row = (await conn.execute(_COMMUNITY.where(s.communities.c.id == community_id))).first()
    return None if row is None else CommunityInfo(*row)


async def all_communities(conn: AsyncConnection) -> list[CommunityInfo]:
    """Every community."""
    return [
        CommunityInfo(*row) for row in await conn.execute(_COMMUNITY.order_by(s.communities.c.id))
    ]


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """A stored member with the fields the services use."""

    id: int
    platform: str
    platform_id: str
    display_name: str | None
    locale: str | None
    timezone: str | None
    person_id: int | None
    dm_unreachable_at: datetime | None

    @property
    def ref(self) -> str:
        """`platform:id`."""
        return f"{self.platform}:{self.platform_id}"


_MEMBER = select(
    s.members.c.id,
    s.members.c.platform,
    s.members.c.platform_id,
    s.members.c.display_name,
    s.members.c.locale,
    s.members.c.timezone,
    s.members.c.person_id,
    s.members.c.dm_unreachable_at,
)


async def member(conn: AsyncConnection, platform: str, platform_id: str) -> MemberInfo | None:
    """A stored member by platform identity (None: never stored)."""
    row = (
        await conn.execute(
            _MEMBER.where(s.members.c.platform == platform, s.members.c.platform_id == platform_id)
        )
    ).first()
    return None if row is None else MemberInfo(*row)


async def members_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, MemberInfo]:
    """Stored members by row id."""
    wanted = sorted(set(ids))
    out: dict[int, MemberInfo] = {}
    for start in range(0, len(wanted), 900):
        result = await conn.execute(_MEMBER.where(s.members.c.id.in_(wanted[start : start + 900])))
        out.update({row[0]: MemberInfo(*row) for row in result})
    return out


async def person_members(conn: AsyncConnection, member_id: int) -> list[MemberInfo]:
    """Every identity of the member's person (the member alone when not linked)."""
    own = (await conn.execute(_MEMBER.where(s.members.c.id == member_id))).first()
    if own is None:
        return []
    info = MemberInfo(*own)
    if info.person_id is None:
        return [info]
    result = await conn.execute(_MEMBER.where(s.members.c.person_id == info.person_id))
    return [MemberInfo(*row) for row in result]


async def owned_courses(conn: AsyncConnection, member_ids: Iterable[int]) -> set[str]:
    """Courses bought or enrolled in by any of the members."""
    ids = list(member_ids)
    if not ids:
        return set()
    i = s.interactions.c
    result = await conn.execute(
        select(i.course_id).where(i.member_id.in_(ids), i.kind == "purchase").distinct()
    )
    return set(result.scalars())


async def dismissed_courses(conn: AsyncConnection, member_ids: Iterable[int]) -> set[str]:
    """Courses the members answered "not for me"."""
    ids = list(member_ids)
    if not ids:
        return set()
    i = s.interactions.c
    result = await conn.execute(
        select(i.course_id).where(i.member_id.in_(ids), i.kind == "dismiss").distinct()
    )
    return set(result.scalars())


async def memberships_of(conn: AsyncConnection, member_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(member id, community id) pairs of the members."""
    ids = list(member_ids)
    if not ids:
        return []
    ms = s.memberships.c
    result = await conn.execute(select(ms.member_id, ms.community_id).where(ms.member_id.in_(ids)))
    return [(row[0], row[1]) for row in result]


async def dm_audience(conn: AsyncConnection, community_id: int) -> list[int]:
    """Members of a community who opted in to DMs and have not left."""
    ms = s.memberships.c
    result = await conn.execute(
        select(ms.member_id).where(
            ms.community_id == community_id,
            ms.consent_dm.is_(True),
            or_(ms.left_at.is_(None), ms.joined_at > ms.left_at),
        )
    )
    return sorted(result.scalars())


async def mark_unreachable(conn: AsyncConnection, member_id: int, at: datetime) -> None:
    """Remember that the member's DMs are closed (no retries until they write again)."""
    await conn.execute(
        update(s.members).where(s.members.c.id == member_id).values(dm_unreachable_at=at)
    )


async def mark_reachable(conn: AsyncConnection, member_id: int) -> None:
    """The member wrote to the bot: DMs work again."""
    await conn.execute(
        update(s.members)
        .where(s.members.c.id == member_id, s.members.c.dm_unreachable_at.is_not(None))
        .values(dm_unreachable_at=None)
    )


async def audit(
    conn: AsyncConnection,
    *,
    ts: datetime,
    action: str,
    outcome: str,
    community_id: int | None = None,
    actor_member_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one line to the moderator audit log."""
    await conn.execute(
        s.audit_log.insert().values(
            ts=ts,
            community_id=community_id,
            actor_member_id=actor_member_id,
            action=action,
            target=target,
            outcome=outcome,
            details=details or {},
        )
    )


async def course_rows(conn: AsyncConnection, active_only: bool = True) -> list[dict[str, Any]]:
    """Catalog rows with their creation time (for "new courses")."""
    c = s.courses.c
    query = select(
        c.id,
        c.title,
        c.description,
        c.tags,
        c.level,
        c.language,
        c.price,
        c.currency,
        c.url,
        c.active,
        c.created_at,
    ).order_by(c.id)
    if active_only:
        query = query.where(c.active.is_(True))
    return [dict(row) for row in (await conn.execute(query)).mappings()]


async def purchase_counts(conn: AsyncConnection) -> dict[str, int]:
    """How many purchases each course has (identified and anonymous)."""
    i = s.interactions.c
    result = await conn.execute(
        select(i.course_id, func.count()).where(i.kind == "purchase").group_by(i.course_id)
    )
    return {row[0]: int(row[1]) for row in result}


async def member_consents(
    conn: AsyncConnection, member_ids: Iterable[int]
) -> list[tuple[int, int, bool | None, bool | None]]:
    """(member, community, profiling, dm) for the members' memberships."""
    ids = list(member_ids)
    if not ids:
        return []
    ms = s.memberships.c
    result = await conn.execute(
        select(ms.member_id, ms.community_id, ms.consent_profiling, ms.consent_dm).where(
            and_(ms.member_id.in_(ids))
        )
    )
    return [(r[0], r[1], r[2], r[3]) for r in result]


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


async def channels(conn: AsyncConnection, community_id: int) -> list[tuple[str, str | None]]:
    """(platform id, name) of every channel of a community, by name."""
    ch = s.channels.c
    result = await conn.execute(
        select(ch.platform_id, ch.name)
        .where(ch.community_id == community_id)
        .order_by(ch.name, ch.platform_id)
    )
    return [(platform_id, name) for platform_id, name in result]


async def channel_row(conn: AsyncConnection, community_id: int, channel: str) -> int | None:
    """A channel's row id."""
    ch = s.channels.c
    return await conn.scalar(
        select(ch.id).where(ch.community_id == community_id, ch.platform_id == channel)
    )


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
    conn: AsyncConnection, community_id: int, since: datetime, until: datetime
) -> list[str]:
    """Stored message texts of a community in [since, until)."""
    m, ch = s.messages.c, s.channels.c
    result = await conn.execute(
        select(m.text)
        .select_from(s.messages.join(s.channels, ch.id == m.channel_id))
        .where(ch.community_id == community_id, m.ts >= since, m.ts < until, m.text.is_not(None))
    )
    return [text for text in result.scalars() if text]


async def community_term_counts(
    conn: AsyncConnection, community_id: int, week: Any
) -> dict[str, int]:
    """Anonymous term counts of a community in one week bucket (a Monday)."""
    t, ch = s.channel_terms.c, s.channels.c
    result = await conn.execute(
        select(t.term, func.sum(t.count))
        .select_from(s.channel_terms.join(s.channels, ch.id == t.channel_id))
        .where(ch.community_id == community_id, t.week == week)
        .group_by(t.term)
    )
    return {row[0]: int(row[1]) for row in result}
