"""Messages we may not store are counted once with their terms; erased activity joins them."""

from __future__ import annotations

from sqlalchemy import select

from bot.store import schema as s
from bot.store.writers.anonymous import count_messages, count_stored_activity
from bot.store.writers.context import WriteContext
from bot.store.writers.messages import write_messages
from tests.helpers import T0, count, message, rows
from tests.store.writers.conftest import Tables


async def test_an_anonymous_message_is_counted_once_with_its_terms(tables: Tables) -> None:
    """A replayed anonymous message adds nothing; its terms are counted, its text not kept."""
    event = message(message="m1", member="u2", text="rust async rust")
    results = [
        await tables.run([event], lambda ctx, a: count_messages(ctx, a.anonymous_messages))
        for _ in range(2)
    ]
    assert [r.anonymous_messages for r in results] == [1, 0]
    terms = await rows(tables.cohort, select(s.channel_terms.c.term, s.channel_terms.c.count))
    assert sorted(tuple(r) for r in terms) == [("async", 1), ("rust", 2)]
    assert await count(tables.cohort, s.messages) == 0
    assert await count(tables.cohort, s.members) == 0


async def test_a_message_stored_before_a_withdrawal_is_not_counted_again(tables: Tables) -> None:
    """Stored while its author consented, a message is already a row: no anonymous count."""
    tables.consent("u1")
    event = message(message="m1", member="u1")
    await tables.run([event], lambda ctx, a: write_messages(ctx, a.messages))
    tables.gate.record("discord", "g1", "u1", False, None, T0)
    result = await tables.run([event], lambda ctx, a: count_messages(ctx, a.anonymous_messages))
    assert result.anonymous_messages == 0
    assert await count(tables.cohort, s.channel_daily) == 0
    assert await count(tables.cohort, s.seen_events) == 0


async def test_stored_activity_is_counted_once_as_if_it_had_been_anonymous(
    tables: Tables,
) -> None:
    """Erasure folds a member's messages and reactions into the counts, never twice."""
    await tables.run([message(member="u9")], lambda ctx, a: None)  # the channel's row
    (channel,) = [r.id for r in await rows(tables.cohort, select(s.channels.c.id))]
    messages = [(channel, "m1", T0, "rust", True)]
    reactions = [(channel, "m1", "u9", "👍", T0)]

    def fold(ctx: WriteContext) -> tuple[int, int]:
        return count_stored_activity(ctx, messages, reactions)

    assert await tables.direct(fold) == (1, 1)
    assert await tables.direct(fold) == (0, 0)
    daily = await rows(
        tables.cohort,
        select(
            s.channel_daily.c.anonymous_messages,
            s.channel_daily.c.anonymous_replies,
            s.channel_daily.c.anonymous_reactions,
        ),
    )
    assert [tuple(r) for r in daily] == [(1, 1, 1)]
    tally = await rows(tables.cohort, select(s.reaction_tallies.c.anonymous_count))
    assert [r.anonymous_count for r in tally] == [1]
