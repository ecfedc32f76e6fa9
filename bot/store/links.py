"""SQL for linking identities into persons: one-time codes and the `persons` rows."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


async def save_code(
    conn: AsyncConnection, member_id: int, code_hash: str, expires_at: datetime, now: datetime
) -> None:
    """Replace the member's pending codes with this one."""
    codes = s.link_codes.c
    await conn.execute(delete(s.link_codes).where(codes.member_id == member_id))
    await conn.execute(
        insert(s.link_codes).values(
            code_hash=code_hash, member_id=member_id, expires_at=expires_at, created_at=now
        )
    )


async def take_code(conn: AsyncConnection, code_hash: str, now: datetime) -> int | None:
    """The member who issued a valid code; the code is used up (deleted) either way."""
    codes = s.link_codes.c
    row = (
        await conn.execute(
            select(codes.member_id, codes.expires_at).where(codes.code_hash == code_hash)
        )
    ).first()
    if row is None:
        return None
    await conn.execute(delete(s.link_codes).where(codes.code_hash == code_hash))
    return int(row.member_id) if row.expires_at > now else None


async def link(conn: AsyncConnection, first: int, second: int, now: datetime) -> int:
    """Put two members (and anyone already linked to either) into one person."""
    m = s.members.c
    persons = [
        p
        for p in (
            await conn.execute(select(m.person_id).where(m.id.in_([first, second])))
        ).scalars()
        if p is not None
    ]
    if persons:
        person = min(persons)
    else:
        person = (
            await conn.execute(insert(s.persons).values(created_at=now).returning(s.persons.c.id))
        ).scalar_one()
    merged = [p for p in persons if p != person]
    if merged:
        await conn.execute(
            update(s.members).where(m.person_id.in_(merged)).values(person_id=person)
        )
        await conn.execute(delete(s.persons).where(s.persons.c.id.in_(merged)))
    await conn.execute(update(s.members).where(m.id.in_([first, second])).values(person_id=person))
    return int(person)


async def unlink(conn: AsyncConnection, member_id: int) -> int:
    """Take the member out of their person; the person goes when one identity is left."""
    m = s.members.c
    person = (await conn.execute(select(m.person_id).where(m.id == member_id))).scalar()
    if person is None:
        return 0
    await conn.execute(update(s.members).where(m.id == member_id).values(person_id=None))
    left = (await conn.execute(select(func.count()).where(m.person_id == person))).scalar_one()
    if left <= 1:
        await conn.execute(update(s.members).where(m.person_id == person).values(person_id=None))
        await conn.execute(delete(s.persons).where(s.persons.c.id == person))
    return 1
