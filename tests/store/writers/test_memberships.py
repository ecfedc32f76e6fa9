"""Joins and leaves: times on consenting members' memberships, a daily count of everyone."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain.events import MemberLeft
from bot.store import schema as s
from bot.store.writers.memberships import write_memberships
from tests.helpers import at, join, rows
from tests.store.writers.conftest import Tables


async def test_joins_and_leaves_are_counted_once_a_day_and_timed_for_members(
    tables: Tables,
) -> None:
    """A join reported twice the same day counts once; only the consenting member is timed."""
    tables.consent("u1")
    left = MemberLeft(platform="discord", community="g1", member="u1", ts=at(30))
    result = await tables.run(
        [join("u1"), join("u1", ts=at(1)), join("u2"), left],
        lambda ctx, a: write_memberships(ctx, a.memberships),
    )
    assert (result.joins, result.leaves) == (2, 1)
    daily = await rows(tables.cohort, select(s.community_daily.c.joins, s.community_daily.c.leaves))
    assert [tuple(r) for r in daily] == [(2, 1)]
    times = await rows(tables.cohort, select(s.memberships.c.joined_at, s.memberships.c.left_at))
    assert [(r.joined_at, r.left_at) for r in times] == [(at(1), at(30))]
