"""Stored members: lookups by `platform:id` or row id, persons, memberships, DM reachability.

A *person* is every platform identity linked to the same `persons` row, or a lone
member; caps, ownership and consent apply to the person.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


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
_BY_IDS = _MEMBER.where(s.members.c.id.in_(bindparam("ids", expanding=True)))


async def find_member(conn: AsyncConnection, platform: str, platform_id: str) -> MemberInfo | None:
    """A stored member by platform identity (None: never stored, no consent)."""
    row = (
        await conn.execute(
            _MEMBER.where(s.members.c.platform == platform, s.members.c.platform_id == platform_id)
        )
    ).first()
    return None if row is None else MemberInfo(*row)


async def members_by_ids(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, MemberInfo]:
    """Stored members by row id (missing ids are simply absent)."""
    wanted = sorted(set(ids))
    out: dict[int, MemberInfo] = {}
    for start in range(0, len(wanted), 900):
        result = await conn.execute(_BY_IDS, {"ids": wanted[start : start + 900]})
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


async def memberships_of(conn: AsyncConnection, member_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(member id, community id) pairs of the members."""
    ids = list(member_ids)
    if not ids:
        return []
    ms = s.memberships.c
    result = await conn.execute(select(ms.member_id, ms.community_id).where(ms.member_id.in_(ids)))
    return [(row[0], row[1]) for row in result]


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
