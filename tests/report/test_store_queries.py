"""The report's SQL (`bot.store.report`) on a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.app import Cohort
from bot.store import report as r
from bot.store import schema as s
from tests.helpers import T0, consent, message, reaction, rows, write


async def member_ids(cohort: Cohort) -> dict[str, int]:
    found = await rows(cohort, select(s.members.c.platform_id, s.members.c.id))
    return {platform_id: member_id for platform_id, member_id in found}


async def community_id(cohort: Cohort) -> int:
    ((found,),) = await rows(cohort, select(s.communities.c.id))
    return int(found)


async def test_edges_count_replies_mentions_and_reactions_between_given_members(
    cohort: Cohort,
) -> None:
    """A reply, a mention and a reaction each add one unit of attention, giver → receiver."""
    await write(
        cohort,
        consent("u1"),
        consent("u2"),
        consent("u3"),
        message(message="m1", member="u1", text="how do lifetimes work?"),
        message(message="m2", member="u2", reply_to="m1", mentions=("u1",), text="like this"),
        message(message="m3", member="u3", reply_to="m1", text="and this"),
        message(message="m4", member="u1", reply_to="m1", text="thanks myself"),
        reaction(message="m2", member="u1"),
    )
    ids = await member_ids(cohort)
    place = await community_id(cohort)
    async with cohort.store.read() as conn:
        edges = await r.interaction_edges(conn, place, [ids["u1"], ids["u2"]])
        everyone = await r.interaction_edges(conn, place, list(ids.values()))
        elsewhere = await r.interaction_edges(conn, place + 1000, list(ids.values()))
    assert edges == {(ids["u2"], ids["u1"]): 2, (ids["u1"], ids["u2"]): 1}
    assert everyone[(ids["u3"], ids["u1"])] == 1 and len(everyone) == 3
    assert elsewhere == {}


async def test_hourly_messages_are_grouped_by_utc_hour_and_channel(cohort: Cohort) -> None:
    """Messages land in their channel's UTC hour bucket, as aware datetimes."""
    await write(
        cohort,
        consent("u1"),
        message(channel="c1", channel_name="general", ts=T0 + timedelta(minutes=5)),
        message(channel="c1", channel_name="general", ts=T0 + timedelta(minutes=50)),
        message(channel="c2", channel_name="rust", ts=T0 + timedelta(hours=3)),
        message(channel="c2", channel_name="rust", ts=T0 - timedelta(days=40)),
    )
    place = await community_id(cohort)
    async with cohort.store.read() as conn:
        names = await r.channel_names(conn, place)
        hourly = await r.hourly_messages(conn, place, T0 - timedelta(days=1))
    by_name = {names[channel]: (hour, count) for channel, hour, count in hourly}
    assert by_name == {
        "general": (datetime(2024, 5, 1, 10, tzinfo=UTC), 2),
        "rust": (datetime(2024, 5, 1, 13, tzinfo=UTC), 1),
    }
