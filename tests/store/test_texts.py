"""What a community talks about: stored texts and anonymous term counts, by channel and time."""

from __future__ import annotations

from datetime import date

from bot.app import Cohort
from bot.domain.events import MessageDeleted
from bot.store import schema as s
from bot.store.channels import channel_row
from bot.store.communities import find_community
from bot.store.texts import (
    channel_document,
    community_term_counts,
    community_texts,
    most_discussed,
)
from tests.helpers import at, consent, message, write

WEEK = date(2024, 4, 29)  # the Monday of T0's week
NEXT_WEEK = date(2024, 5, 6)


async def _terms(cohort: Cohort, community: str, channel: str, week: date, **counts: int) -> None:
    """Anonymous term counts for one channel and week."""
    async with cohort.store.write() as conn:
        place = await find_community(conn, "discord", community)
        assert place is not None
        channel_id = await channel_row(conn, place.id, channel)
        await conn.execute(
            s.channel_terms.insert(),
            [
                {"channel_id": channel_id, "week": week, "term": term, "count": n}
                for term, n in counts.items()
            ],
        )


async def _community(cohort: Cohort, community: str = "g1") -> int:
    async with cohort.store.read() as conn:
        place = await find_community(conn, "discord", community)
    assert place is not None
    return place.id


async def test_channel_document_joins_kept_text_and_anonymous_terms(cohort: Cohort) -> None:
    """A channel's text and capped term counts; deleted messages and other channels left out."""
    await write(
        cohort,
        consent("u1"),
        message(channel="c1", message="a", text="ownership and lifetimes", ts=at(1)),
        message(channel="c1", message="b", text="secretword", ts=at(2)),
        message(channel="c2", message="c", text="goroutines", ts=at(3)),
        MessageDeleted(platform="discord", community="g1", channel="c1", message="b", ts=at(4)),
    )
    await _terms(cohort, "g1", "c1", WEEK, tokio=50)
    g1 = await _community(cohort)
    async with cohort.store.read() as conn:
        c1 = await channel_document(conn, g1, "c1")
        whole = await channel_document(conn, g1, None)
        unknown = await channel_document(conn, g1, "nope")
    assert "ownership and lifetimes" in c1
    assert c1.split().count("tokio") == 20
    assert "secretword" not in c1 and "goroutines" not in c1
    assert "goroutines" in whole and "ownership and lifetimes" in whole
    assert unknown == ""


async def test_most_discussed_ranks_messages_by_replies(cohort: Cohort) -> None:
    """Most replied-to first, since a given time; messages nobody answered are left out."""
    await write(
        cohort,
        consent("u1"),
        consent("u2"),
        message(channel="c1", channel_name="general", message="old", text="old news", ts=at(0)),
        message(member="u2", message="r0", reply_to="old", text="re", ts=at(1)),
        message(message="hot", text="who uses tokio?", ts=at(10)),
        message(member="u2", message="r1", reply_to="hot", text="me", ts=at(11)),
        message(member="u2", message="r2", reply_to="hot", text="me too", ts=at(12)),
        message(message="warm", text="rust 2024?", ts=at(13)),
        message(member="u2", message="r3", reply_to="warm", text="yes", ts=at(14)),
        message(message="cold", text="anyone?", ts=at(15)),
    )
    g1 = await _community(cohort)
    async with cohort.store.read() as conn:
        top = await most_discussed(conn, g1, at(5), limit=5)
        first = await most_discussed(conn, g1, at(5), limit=1)
    assert top == [
        ("general", "who uses tokio?", 2, "discord", "u1"),
        ("general", "rust 2024?", 1, "discord", "u1"),
    ]
    assert first == top[:1]


async def test_community_texts_are_the_stored_texts_of_a_period(cohort: Cohort) -> None:
    """Texts in [since, until) of the asked community only."""
    await write(
        cohort,
        consent("u1"),
        consent("u1", community="g2"),
        message(text="before", ts=at(0)),
        message(text="inside", ts=at(10)),
        message(channel="c2", text="also inside", ts=at(19)),
        message(text="at the end", ts=at(20)),
        message(community="g2", text="elsewhere", ts=at(10)),
    )
    g1 = await _community(cohort)
    async with cohort.store.read() as conn:
        texts = await community_texts(conn, g1, at(10), at(20))
    assert sorted(texts) == ["also inside", "inside"]


async def test_term_counts_add_up_channels_of_one_community_and_week(cohort: Cohort) -> None:
    """Counts of every channel of the community in the asked week, summed per term."""
    await write(
        cohort,
        consent("u1"),
        consent("u1", community="g2"),
        message(channel="c1"),
        message(channel="c2"),
        message(community="g2", channel="c9"),
    )
    await _terms(cohort, "g1", "c1", WEEK, rust=3, tokio=1)
    await _terms(cohort, "g1", "c2", WEEK, rust=2)
    await _terms(cohort, "g1", "c1", NEXT_WEEK, rust=7)
    await _terms(cohort, "g2", "c9", WEEK, rust=100)
    g1 = await _community(cohort)
    async with cohort.store.read() as conn:
        counts = await community_term_counts(conn, g1, WEEK)
        empty = await community_term_counts(conn, g1, date(2020, 1, 6))
    assert counts == {"rust": 5, "tokio": 1}
    assert empty == {}
