"""Anonymous counts accumulate on their rows; terms are bucketed by ISO week."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from bot.store import schema as s
from bot.store.writers.context import WriteContext
from bot.store.writers.counts import week_of
from tests.helpers import T0, message, rows
from tests.store.writers.conftest import Tables


def test_terms_are_bucketed_by_the_monday_of_their_week() -> None:
    """Every day of a week maps to its Monday."""
    assert {week_of(date(2024, 5, d)) for d in range(6, 13)} == {date(2024, 5, 6)}
    assert week_of(date(2024, 5, 13)) == date(2024, 5, 13)


async def test_counts_add_to_what_is_stored_and_empty_ones_write_nothing(tables: Tables) -> None:
    """Two batches' counts add up in the same rows; an all-zero day gets no row."""
    await tables.run([message(member="u9")], lambda ctx, a: None)  # the channel's row
    (channel,) = [r.id for r in await rows(tables.cohort, select(s.channels.c.id))]

    def add(ctx: WriteContext) -> None:
        ctx.counts.add_message(channel, T0, "rust", is_reply=True)
        ctx.counts.daily[(channel, date(2024, 1, 1))]  # touched but zero

    await tables.direct(add)
    await tables.direct(add)
    d = s.channel_daily.c
    daily = await rows(tables.cohort, select(d.day, d.anonymous_messages, d.anonymous_replies))
    assert [tuple(r) for r in daily] == [(T0.date(), 2, 2)]
    terms = await rows(tables.cohort, select(s.channel_terms.c.week, s.channel_terms.c.count))
    assert [tuple(r) for r in terms] == [(week_of(T0.date()), 2)]
