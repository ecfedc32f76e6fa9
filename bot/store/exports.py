"""Reads behind `cohort export`: memberships, message activity, identities, deliveries.

Whole tables for spreadsheets and marketing tools, as plain rows; which rows may name
a member is decided by the export service with the consent gate, not here. (One
person's own data, `/mydata`, is `bot/store/export.py`.)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


@dataclass(frozen=True, slots=True)
class Identity:
    """A stored member row: who it is on which platform, and their person."""

    id: int
    platform: str
    platform_id: str
    display_name: str | None
    locale: str | None
    person_id: int | None

    @property
    def ref(self) -> str:
        """`platform:id`."""
        return f"{self.platform}:{self.platform_id}"


@dataclass(frozen=True, slots=True)
class MembershipRow:
    """A member in a community, with their consent decisions there."""

    member_id: int
    community_id: int
    joined_at: datetime | None
    left_at: datetime | None
    consent_profiling: bool | None
    consent_dm: bool | None


@dataclass(frozen=True, slots=True)
class Activity:
    """A member's stored messages in one community."""

    messages: int
    last_message_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """One outbox row, without its payload (the text sent)."""

    id: int
    kind: str
    purpose: str
    status: str
    attempts: int
    community_id: int | None
    channel: str | None
    member_id: int | None
    course: str | None
    campaign: str | None
    created_at: datetime
    sent_at: datetime | None


async def identities(conn: AsyncConnection) -> dict[int, Identity]:
    """Every stored member row, by row id."""
    m = s.members.c
    result = await conn.execute(
        select(m.id, m.platform, m.platform_id, m.display_name, m.locale, m.person_id).order_by(
            m.id
        )
    )
    return {row.id: Identity(*row) for row in result}


async def memberships(conn: AsyncConnection) -> list[MembershipRow]:
    """Every membership, by community then member."""
    ms = s.memberships.c
    result = await conn.execute(
        select(
            ms.member_id,
            ms.community_id,
            ms.joined_at,
            ms.left_at,
            ms.consent_profiling,
            ms.consent_dm,
        ).order_by(ms.community_id, ms.member_id)
    )
    return [MembershipRow(*row) for row in result]


async def activity(conn: AsyncConnection) -> dict[tuple[int, int], Activity]:
    """Stored messages and the latest one per (member, community)."""
    msg, ch = s.messages.c, s.channels.c
    result = await conn.execute(
        select(msg.member_id, ch.community_id, func.count(), func.max(msg.ts))
        .select_from(s.messages.join(s.channels, ch.id == msg.channel_id))
        .group_by(msg.member_id, ch.community_id)
    )
    return {(member, community): Activity(n, last) for member, community, n, last in result}


async def deliveries(conn: AsyncConnection) -> list[DeliveryRow]:
    """Every outbox row, oldest first (the channel as its platform id)."""
    o, ch = s.outbox.c, s.channels.c
    result = await conn.execute(
        select(
            o.id,
            o.kind,
            o.purpose,
            o.status,
            o.attempts,
            o.community_id,
            ch.platform_id,
            o.member_id,
            o.course_id,
            o.campaign,
            o.created_at,
            o.sent_at,
        )
        .select_from(s.outbox.outerjoin(s.channels, ch.id == o.channel_id))
        .order_by(o.created_at, o.id)
    )
    return [DeliveryRow(*tuple(row)) for row in result]
