"""Reactions: rows with a removed flag for members who consent, net tallies for the rest."""

from __future__ import annotations

from sqlalchemy import select

from bot.domain.events import ReactionRemoved, ReactionsCounted
from bot.store import schema as s
from bot.store.writers.reactions import count_reactions, write_reactions, write_snapshots
from tests.helpers import T0, at, count, reaction, rows
from tests.store.writers.conftest import Tables


def unreact(member: str, minutes: float) -> ReactionRemoved:
    """`member` takes back their 👍 on m1."""
    return ReactionRemoved(
        platform="discord",
        community="g1",
        channel="c1",
        message="m1",
        member=member,
        emoji="👍",
        ts=at(minutes),
    )


def counted(total: int, *reactors: str) -> ReactionsCounted:
    """An export's count of 👍 on m1, naming some reactors."""
    return ReactionsCounted(
        platform="discord",
        community="g1",
        channel="c1",
        message="m1",
        emoji="👍",
        count=total,
        reactors=reactors,
        ts=T0,
    )


async def test_identified_reactions_are_flagged_removed_and_added_back(tables: Tables) -> None:
    """Add, remove, add again: one row, active, counted as new only the first time."""
    tables.consent("u2")
    writing = lambda ctx, a: write_reactions(ctx, a.reactions.values())  # noqa: E731
    added = await tables.run([reaction()], writing)
    await tables.run([unreact("u2", 1)], writing)
    removed = await rows(tables.cohort, select(s.reactions.c.removed))
    again = await tables.run([reaction(ts=at(2))], writing)
    assert (added.reactions, again.reactions) == (1, 0)
    assert [r.removed for r in removed] == [True]
    assert [r.removed for r in await rows(tables.cohort, select(s.reactions.c.removed))] == [False]


async def test_anonymous_reactions_are_a_net_tally_counted_once(tables: Tables) -> None:
    """A replayed anonymous reaction adds nothing; its removal takes the tally back."""
    counting = lambda ctx, a: count_reactions(ctx, a.anonymous_reactions.values())  # noqa: E731
    first = await tables.run([reaction()], counting)
    replay = await tables.run([reaction()], counting)
    tally = select(s.reaction_tallies.c.anonymous_count)
    assert (first.anonymous_reactions, replay.anonymous_reactions) == (1, 0)
    assert [r.anonymous_count for r in await rows(tables.cohort, tally)] == [1]
    await tables.run([unreact("u2", 1)], counting)
    assert [r.anonymous_count for r in await rows(tables.cohort, tally)] == [0]
    assert await count(tables.cohort, s.reactions) == 0
    assert await count(tables.cohort, s.members) == 0


async def test_export_counts_store_named_consenting_reactors_and_tally_the_rest(
    tables: Tables,
) -> None:
    """Of 3 reactors the consenting one is a row, 2 a tally; a later full count zeroes it."""
    tables.consent("u1", "u2")
    snapshots = lambda ctx, a: write_snapshots(ctx, a.snapshots)  # noqa: E731
    first = await tables.run([counted(3, "u1", "u9")], snapshots)
    tally = select(s.reaction_tallies.c.anonymous_count)
    assert (first.reactions, first.anonymous_reactions) == (1, 2)
    assert [r.anonymous_count for r in await rows(tables.cohort, tally)] == [2]
    await tables.run([counted(2, "u1", "u2")], snapshots)
    assert [r.anonymous_count for r in await rows(tables.cohort, tally)] == [0]
    assert await count(tables.cohort, s.reactions) == 2
