"""SQL for attribution and the funnel: purchases, the touches before them, counts per variant.

A *touch* is an impression or a click of a course (a click row points at its
impression through `attributed_to`). A purchase is attributed by setting its
`attributed_to` to the touch and copying the touch's variant and position; a
purchase nothing led to gets the variant `organic`, so each purchase is looked at
once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, FromClause, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

ORGANIC = "organic"
TOUCH_KINDS = ("impression", "click")


@dataclass(frozen=True, slots=True)
class Purchase:
    """A purchase waiting for attribution."""

    id: int
    member_id: int | None
    course_id: str
    ts: datetime
    token: str | None


@dataclass(frozen=True, slots=True)
class Touch:
    """An impression or click that may have led to a purchase."""

    id: int
    kind: str
    member_id: int | None
    course_id: str
    ts: datetime
    variant: str | None
    position: int | None


_TOUCH = select(
    s.interactions.c.id,
    s.interactions.c.kind,
    s.interactions.c.member_id,
    s.interactions.c.course_id,
    s.interactions.c.ts,
    s.interactions.c.variant,
    s.interactions.c.position,
)


async def pending_purchases(conn: AsyncConnection, limit: int) -> list[Purchase]:
    """Purchases not yet looked at (no touch and no `organic` mark), oldest first."""
    i = s.interactions.c
    result = await conn.execute(
        select(i.id, i.member_id, i.course_id, i.ts, i.token)
        .where(i.kind == "purchase", i.attributed_to.is_(None), i.variant.is_(None))
        .order_by(i.id)
        .limit(limit)
    )
    return [Purchase(*row) for row in result]


async def touch_by_token(conn: AsyncConnection, token: str) -> Touch | None:
    """The impression a tracking token was issued for."""
    i = s.interactions.c
    row = (await conn.execute(_TOUCH.where(i.token == token, i.kind == "impression"))).first()
    return None if row is None else Touch(*row)


async def last_touch(
    conn: AsyncConnection, member_ids: Iterable[int], course: str, since: datetime, until: datetime
) -> Touch | None:
    """The latest impression or click of `course` by any of the members in [since, until]."""
    ids = sorted(set(member_ids))
    if not ids:
        return None
    i = s.interactions.c
    row = (
        await conn.execute(
            _TOUCH.where(
                i.member_id.in_(ids),
                i.course_id == course,
                i.kind.in_(TOUCH_KINDS),
                i.ts >= since,
                i.ts <= until,
            )
            .order_by(i.ts.desc(), i.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else Touch(*row)


async def attribute(
    conn: AsyncConnection, purchase_id: int, touch: Touch | None, variant: str | None = None
) -> None:
    """Tie a purchase to its touch (copying variant and position), or mark it organic."""
    values = (
        {"attributed_to": touch.id, "variant": variant or touch.variant, "position": touch.position}
        if touch is not None
        else {"variant": ORGANIC}
    )
    await conn.execute(
        update(s.interactions).where(s.interactions.c.id == purchase_id).values(**values)
    )


@dataclass(frozen=True, slots=True)
class VariantCounts:
    """The funnel of one variant over a period."""

    variant: str
    impressions: int = 0
    clicked: int = 0
    purchases: int = 0
    exposed_members: int = 0
    converted_members: int = 0


def _scope(
    table: FromClause, since: datetime | None, community_id: int | None
) -> list[ColumnElement[bool]]:
    """Filters on an interactions table (or alias): from `since`, in one community."""
    conditions: list[ColumnElement[bool]] = []
    if since is not None:
        conditions.append(table.c.ts >= since)
    if community_id is not None:
        conditions.append(table.c.community_id == community_id)
    return conditions


async def funnel_counts(
    conn: AsyncConnection, since: datetime | None = None, community_id: int | None = None
) -> list[VariantCounts]:
    """Impressions, clicked impressions and attributed purchases per variant.

    A click or an "Interested" press carrying an impression's token makes it
    *clicked* (counted once however often it is pressed). Purchases count when the
    touch they are attributed to is in scope (so they belong to the impressions
    counted); `organic` counts the purchases in scope nothing led to. Members:
    distinct identified members shown the variant, and those of them whose touch led
    to a purchase.
    """
    i = s.interactions.c
    shown = s.interactions.alias("shown")
    impressions = await conn.execute(
        select(i.variant, func.count(), func.count(i.member_id.distinct()))
        .where(i.kind == "impression", *_scope(s.interactions, since, community_id))
        .group_by(i.variant)
    )
    # By token: a web click points at its impression (`attributed_to`), but an
    # "Interested" press arrives through the writer with only the pick's token.
    clicked = await conn.execute(
        select(shown.c.variant, func.count(shown.c.id.distinct()))
        .select_from(
            s.interactions.join(shown, and_(shown.c.token == i.token, shown.c.kind == "impression"))
        )
        .where(
            i.kind.in_(("click", "interest")),
            i.token.is_not(None),
            *_scope(shown, since, community_id),
        )
        .group_by(shown.c.variant)
    )
    touch = s.interactions.alias("touch")
    purchases = await conn.execute(
        select(i.variant, func.count(), func.count(touch.c.member_id.distinct()))
        .select_from(s.interactions.join(touch, touch.c.id == i.attributed_to))
        .where(i.kind == "purchase", *_scope(touch, since, community_id))
        .group_by(i.variant)
    )
    organic = (
        await conn.execute(
            select(func.count()).where(
                i.kind == "purchase",
                i.variant == ORGANIC,
                *_scope(s.interactions, since, community_id),
            )
        )
    ).scalar_one()
    table: dict[str, dict[str, int]] = {}

    def row(variant: str | None) -> dict[str, int]:
        return table.setdefault(variant or "unknown", {})

    for variant, count, members in impressions:
        row(variant).update(impressions=count, exposed_members=members)
    for variant, count in clicked:
        row(variant)["clicked"] = count
    for variant, count, members in purchases:
        row(variant).update(purchases=count, converted_members=members)
    if organic:
        row(ORGANIC)["purchases"] = organic
    return [VariantCounts(variant, **counts) for variant, counts in sorted(table.items())]
