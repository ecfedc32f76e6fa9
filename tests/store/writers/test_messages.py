"""Stored messages and mentions; anonymous counts give a message up once it is stored."""

from __future__ import annotations

from sqlalchemy import select

from bot.store import schema as s
from bot.store.writers.anonymous import count_messages
from bot.store.writers.messages import write_messages
from tests.helpers import count, message, rows
from tests.store.writers.conftest import Tables


async def test_a_message_is_stored_once_however_often_it_arrives(tables: Tables) -> None:
    """The same message twice in a batch, and again later, is one row counted once."""
    tables.consent("u1")
    again = message(message="m1", text="hello")
    first = await tables.run([again, again], lambda ctx, a: write_messages(ctx, a.messages))
    second = await tables.run([again], lambda ctx, a: write_messages(ctx, a.messages))
    assert (first.messages, second.messages) == (1, 0)
    stored = await rows(tables.cohort, select(s.messages.c.platform_id, s.messages.c.text))
    assert [tuple(r) for r in stored] == [("m1", "hello")]


async def test_mentions_are_stored_only_of_members_the_admission_names(tables: Tables) -> None:
    """A mention of a consenting member is a row; one of a stranger leaves no trace."""
    tables.consent("u1", "u2")
    await tables.run(
        [message(message="m1", member="u1", mentions=("u2", "u3"))],
        lambda ctx, a: write_messages(ctx, a.messages),
    )
    mentioned = await rows(
        tables.cohort,
        select(s.members.c.platform_id).join(s.mentions, s.mentions.c.member_id == s.members.c.id),
    )
    assert [r.platform_id for r in mentioned] == ["u2"]
    assert await count(tables.cohort, s.members, s.members.c.platform_id == "u3") == 0


async def test_a_message_counted_anonymously_moves_into_rows_exactly_once(tables: Tables) -> None:
    """After consent, a re-imported message leaves the channel's anonymous count, once."""
    old = message(message="m1", member="u1", reply_to="m0")
    await tables.run([old], lambda ctx, a: count_messages(ctx, a.anonymous_messages))
    daily = select(s.channel_daily.c.anonymous_messages, s.channel_daily.c.anonymous_replies)
    assert [tuple(r) for r in await rows(tables.cohort, daily)] == [(1, 1)]

    tables.consent("u1")
    for _ in range(2):
        await tables.run([old], lambda ctx, a: write_messages(ctx, a.messages))
    assert [tuple(r) for r in await rows(tables.cohort, daily)] == [(0, 0)]
    assert await count(tables.cohort, s.seen_events) == 0
    assert await count(tables.cohort, s.messages) == 1
