"""Backfill: messages posted while the bot was away are fetched on READY, once.

A real Cohort on SQLite (pipeline, writer, consent gate), a real `DiscordAdapter`
built from the settings as `cohort run` builds it, discord.py's own cache filled by
GUILD_CREATE, and channel history served by the fake REST API in
`tests.fakes.discord` as Discord pages it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from bot.adapters.discord import DiscordAdapter
from bot.app import Cohort
from bot.store import schema as s
from tests.fakes import discord_payloads as p
from tests.fakes.discord import GOOD_TOKEN, FakeDiscord, http_error, settle
from tests.helpers import consent, message, rows, snapshot, write

GUILD = str(p.GUILD)
LAST_STORED = p.snowflake(1)


@pytest.fixture
async def cohort(sqlite_cohort: Cohort) -> Cohort:
    """Alice consents to profiling; her message LAST_STORED in #general is stored."""
    sqlite_cohort.settings.discord.token = SecretStr(GOOD_TOKEN)
    await write(
        sqlite_cohort,
        consent(str(p.ALICE), community=GUILD),
        message(
            community=GUILD,
            channel=str(p.GENERAL),
            message=str(LAST_STORED),
            member=str(p.ALICE),
            text="stored before the outage",
        ),
    )
    return sqlite_cohort


@pytest.fixture
async def adapter(net: FakeDiscord, cohort: Cohort) -> AsyncIterator[DiscordAdapter]:
    """The adapter `cohort run` builds, logged in, its cache holding the test guild."""
    adapter = DiscordAdapter.for_cohort(cohort)
    await adapter.start()
    try:
        adapter.client._connection.parse_guild_create(
            p.guild_create(threads=[p.thread(p.THREAD, p.GENERAL, "help")])
        )
        await settle()
        yield adapter
    finally:
        await adapter.stop()


async def ready(adapter: DiscordAdapter, cohort: Cohort) -> None:
    """A READY: dispatch it, wait for the backfill and for the pipeline to write."""
    adapter.client.dispatch("ready")
    await settle()
    await adapter.client.wait_backfill()
    await cohort.pipeline.flush()


def history(net: FakeDiscord) -> dict[str, Any]:
    """#general holds an old message, the stored one and three posted during the outage."""
    general = [
        p.message(p.snowflake(0), content="older than what is stored"),
        p.message(LAST_STORED, content="stored before the outage"),
        p.message(p.snowflake(2), content="missed one"),
        p.message(p.snowflake(3), author=p.BOB, content="missed, bob has not consented"),
        p.message(p.snowflake(4), content="missed two"),
    ]
    net.history = {
        p.GENERAL: general,
        p.ANNOUNCE: [p.message(p.snowflake(5), channel_id=p.ANNOUNCE, content="announced")],
        p.THREAD: [p.message(p.snowflake(6), channel_id=p.THREAD, content="in the thread")],
    }
    return {"general": general}


async def stored_texts(cohort: Cohort) -> list[str]:
    """Texts of the stored messages, oldest first."""
    result = await rows(cohort, select(s.messages.c.text).order_by(s.messages.c.ts))
    return [row[0] for row in result]


async def anonymous_messages(cohort: Cohort) -> int:
    """Messages only counted (members who did not consent)."""
    result = await rows(cohort, select(func.sum(s.channel_daily.c.anonymous_messages)))
    return int(result[0][0] or 0)


async def test_ready_fetches_what_was_posted_after_the_last_stored_message(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """On READY each channel and thread is fetched after its newest stored message."""
    history(net)
    await ready(adapter, cohort)
    assert await stored_texts(cohort) == [
        "stored before the outage",
        "missed one",
        "missed two",
        "announced",
        "in the thread",
    ]
    assert await anonymous_messages(cohort) == 1  # Bob's, counted but not stored
    pages = net.requests("GET /channels/{channel_id}/messages")
    assert sorted(call.url.split("/")[-2] for call in pages) == sorted(
        str(place) for place in (p.GENERAL, p.ANNOUNCE, p.THREAD)
    )  # one page each: the stored message ends the walk back through #general
    thread_rows = await rows(
        cohort, select(s.messages.c.thread).where(s.messages.c.text == "in the thread")
    )
    assert thread_rows == [(str(p.THREAD),)]


async def test_a_second_ready_stores_and_counts_nothing_twice(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """Backfilling again (a reconnect, overlapping live ingestion) changes nothing in the store."""
    history(net)
    await ready(adapter, cohort)
    assert "missed two" in await stored_texts(cohort)
    before = await snapshot(cohort)
    await ready(adapter, cohort)
    assert await snapshot(cohort) == before


async def test_backfill_is_bounded_per_channel_newest_first(
    net: FakeDiscord,
    cohort: Cohort,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At most backfill_limit messages per channel are fetched, the newest; the cut is logged."""
    cohort.settings.discord.backfill_limit = 2
    history(net)
    adapter = DiscordAdapter.for_cohort(cohort)
    await adapter.start()
    try:
        adapter.client._connection.parse_guild_create(p.guild_create())
        with caplog.at_level(logging.INFO, logger="bot.adapters.discord.backfill"):
            await ready(adapter, cohort)
    finally:
        await adapter.stop()
    texts = await stored_texts(cohort)
    assert "missed one" not in texts  # the third newest of the gap
    assert "missed two" in texts
    assert "more than 2 missed messages" in caplog.text
    assert "backfill Rustaceans done" in caplog.text


async def test_an_unreadable_channel_is_skipped_and_the_rest_backfilled(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort, caplog: pytest.LogCaptureFixture
) -> None:
    """A channel whose history Discord refuses (403) is logged and skipped; others still come in."""
    history(net)
    net.refuse("GET /channels/{channel_id}/messages", http_error(403, 50001, "Missing Access"))
    with caplog.at_level(logging.WARNING, logger="bot.adapters.discord.backfill"):
        await ready(adapter, cohort)
    texts = await stored_texts(cohort)
    assert "missed two" not in texts  # #general, refused
    assert "announced" in texts and "in the thread" in texts
    assert "skipped" in caplog.text and "Missing Access" in caplog.text


async def test_no_backfill_when_the_limit_is_zero(net: FakeDiscord, cohort: Cohort) -> None:
    """backfill_limit = 0 turns backfill off: READY fetches no history."""
    cohort.settings.discord.backfill_limit = 0
    history(net)
    adapter = DiscordAdapter.for_cohort(cohort)
    await adapter.start()
    try:
        adapter.client._connection.parse_guild_create(p.guild_create())
        await ready(adapter, cohort)
    finally:
        await adapter.stop()
    assert net.requests("GET /channels/{channel_id}/messages") == []
