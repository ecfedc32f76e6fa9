"""Looking members up: `platform:id` references to row ids and back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.refs import MemberRef
from bot.store import schema as s


@dataclass(frozen=True, slots=True)
class KnownMember:
    """A stored member: row id, reference and display name."""

    id: int
    ref: str
    display_name: str | None


async def find_member(conn: AsyncConnection, ref: MemberRef) -> KnownMember | None:
    """The stored member behind `ref`, or None (never stored: no consent)."""
    m = s.members.c
    row = (
        await conn.execute(
            select(m.id, m.display_name).where(
                and_(m.platform == ref.platform, m.platform_id == ref.id)
            )
        )
    ).first()
    return None if row is None else KnownMember(row.id, str(ref), row.display_name)


_BY_IDS = select(
    s.members.c.id, s.members.c.platform, s.members.c.platform_id, s.members.c.display_name
).where(s.members.c.id.in_(bindparam("ids", expanding=True)))


async def members_by_id(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, KnownMember]:
    """Stored members by row id (missing ids are simply absent)."""
    wanted = sorted(set(ids))
    out: dict[int, KnownMember] = {}
    for start in range(0, len(wanted), 900):
        result = await conn.execute(_BY_IDS, {"ids": wanted[start : start + 900]})
        for row in result:
            out[row.id] = KnownMember(row.id, f"{row.platform}:{row.platform_id}", row.display_name)
    return out
