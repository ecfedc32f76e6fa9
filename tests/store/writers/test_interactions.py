"""Presses and purchases: one row per dedupe key, a member only where the gate allows."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain.events import ButtonPressed
from bot.store import schema as s
from bot.store.writers.interactions import write_interactions
from tests.helpers import T0, purchase, rows
from tests.store.writers.conftest import Tables


async def add_course(tables: Tables, course: str = "rust-101") -> None:
    """Put a course in the catalog."""
    async with tables.cohort.store.write() as conn:
        await conn.execute(s.courses.insert().values(id=course, title=course, tags=[]))


async def test_purchases_are_stored_once_with_a_member_only_if_identified(tables: Tables) -> None:
    """A consenting buyer is linked, a stranger's purchase is anonymous, a replay adds nothing."""
    await add_course(tables)
    tables.consent("u1")
    events = [purchase("u1", order="o1", source="shop"), purchase("u2", order="o2", source="shop")]
    writing = lambda ctx, a: write_interactions(ctx, a.buttons, a.purchases)  # noqa: E731
    first = await tables.run(events, writing)
    replay = await tables.run(events, writing)
    assert (first.interactions, replay.interactions) == (2, 0)
    found = await rows(
        tables.cohort,
        select(s.interactions.c.dedupe_key, s.members.c.platform_id)
        .outerjoin(s.members, s.members.c.id == s.interactions.c.member_id)
        .order_by(s.interactions.c.dedupe_key),
    )
    assert [tuple(r) for r in found] == [("purchase:shop:o1", "u1"), ("purchase:shop:o2", None)]


async def test_interactions_with_unknown_courses_are_rejected(tables: Tables) -> None:
    """A press or purchase of a course not in the catalog is dropped and counted rejected."""
    await add_course(tables)
    pressed = ButtonPressed(
        platform="discord",
        community="g1",
        member="u1",
        course="nope",
        action="interest",
        interaction="i1",
        ts=T0,
    )
    result = await tables.run(
        [pressed, purchase("u1", course="gone"), purchase("u1")],
        lambda ctx, a: write_interactions(ctx, a.buttons, a.purchases),
    )
    assert (result.interactions, result.rejected) == (1, 2)
