"""What members did with courses: purchases, dismissals, and impressions and clicks counted."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


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


async def purchase_counts(conn: AsyncConnection) -> dict[str, int]:
    """How many purchases each course has (identified and anonymous)."""
    i = s.interactions.c
    result = await conn.execute(
        select(i.course_id, func.count()).where(i.kind == "purchase").group_by(i.course_id)
    )
    return {row[0]: int(row[1]) for row in result}


async def shown_and_clicked(conn: AsyncConnection, variant: str) -> tuple[int, int]:
    """(impressions, clicks) recorded so far for one variant, across every community."""
    i = s.interactions.c
    shown = await conn.scalar(
        select(func.count()).where(i.kind == "impression", i.variant == variant)
    )
    clicked = await conn.scalar(select(func.count()).where(i.kind == "click", i.variant == variant))
    return int(shown or 0), int(clicked or 0)
