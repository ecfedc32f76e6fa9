"""The Discord adapter, driven through discord.py's real ConnectionState with gateway payloads.

Only the network edge is fake (`tests.fakes.discord.FakeDiscord`): it answers the two
login calls (`GET /users/@me`, `GET /oauth2/applications/@me`) and fails any other
request, and stands in for the gateway socket. Everything between a gateway dispatch
and the sink (discord.py's parsers, models, event dispatch and our handlers and
translators) is the real code.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import discord
import discord.http
import pytest
from discord.utils import snowflake_time

from bot.adapters.discord import CohortDiscordClient, DiscordAdapter, cohort_intents, translate
from bot.domain.events import (
    Event,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionAdded,
    ReactionRemoved,
)
from bot.errors import ConfigError
from tests.fakes import discord_payloads as p
from tests.fakes.discord import GOOD_TOKEN, FakeDiscord, settle
from tests.fakes.sink import RecordingSink

BAD_TOKEN = "revoked.token.value"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def client(net: FakeDiscord, sink: RecordingSink) -> AsyncIterator[CohortDiscordClient]:
    """A logged-in client whose cache holds the test guild (as after GUILD_CREATE)."""
    client = CohortDiscordClient(sink)
    await client.login(GOOD_TOKEN)
    try:
        client._connection.parse_guild_create(p.guild_create())
        await settle()
        yield client
    finally:
        await client.close()


async def feed(client: CohortDiscordClient, event: str, payload: dict[str, Any]) -> list[Event]:
    """Dispatch one gateway event through the real parser; return what reached the sink."""
    sink = client.sink
    assert isinstance(sink, RecordingSink)
    before = len(sink.events)
    getattr(client._connection, f"parse_{event}")(payload)
    await settle()
    return sink.events[before:]


async def open_thread(client: CohortDiscordClient) -> None:
    """THREAD_CREATE for THREAD, a new thread in #general."""
    await feed(client, "thread_create", p.thread(p.THREAD, p.GENERAL, "help", newly_created=True))


def just_now(ts: datetime) -> bool:
    return ts.tzinfo is not None and abs(datetime.now(UTC) - ts) < timedelta(seconds=30)


# --- messages ---------------------------------------------------------------------------


async def test_plain_message(client: CohortDiscordClient) -> None:
    """A guild message becomes MessagePosted with ids, names, text and its snowflake time."""
    mid = p.snowflake(1)
    events = await feed(client, "message_create", p.message(mid, content="I love rust"))
    assert events == [
        MessagePosted(
            platform="discord",
            community=str(p.GUILD),
            community_name="Rustaceans",
            channel=str(p.GENERAL),
            channel_name="general",
            message=str(mid),
            member=str(p.ALICE),
            member_name="ally",
            text="I love rust",
            ts=snowflake_time(mid),
        )
    ]
    assert events[0].ts.tzinfo is not None


async def test_display_name_falls_back_to_global_then_username(
    client: CohortDiscordClient,
) -> None:
    """member_name is the guild nick, else the global display name, else the username."""
    events = await feed(client, "message_create", p.message(p.snowflake(1), author=p.BOB))
    assert isinstance(events[0], MessagePosted)
    assert events[0].member_name == "bob"


async def test_reply_keeps_the_referenced_message(client: CohortDiscordClient) -> None:
    """A reply carries reply_to = the id of the message it answers."""
    original = p.message(p.snowflake(1), author=p.BOB, content="anyone using tokio?")
    await feed(client, "message_create", original)
    reply = p.message(p.snowflake(2), content="yes!", reply_to=original)
    (event,) = await feed(client, "message_create", reply)
    assert isinstance(event, MessagePosted)
    assert event.reply_to == original["id"]
    assert event.thread is None


async def test_thread_message_is_stored_under_the_parent_channel(
    client: CohortDiscordClient,
) -> None:
    """A message in a thread has channel = parent channel id and thread = thread id."""
    await open_thread(client)
    mid = p.snowflake(3)
    (event,) = await feed(client, "message_create", p.message(mid, channel_id=p.THREAD))
    assert isinstance(event, MessagePosted)
    assert (event.community, event.channel, event.message) == (
        str(p.GUILD),
        str(p.GENERAL),
        str(mid),
    )
    assert event.thread == str(p.THREAD)
    assert event.channel_name == "general"


async def test_thread_message_keys_agree_across_post_edit_reaction_delete(
    client: CohortDiscordClient,
) -> None:
    """Edit, reactions and delete of a thread message share its (community, channel, message)."""
    await open_thread(client)
    mid = p.snowflake(3)
    posted = p.message(mid, channel_id=p.THREAD, content="first")
    events = await feed(client, "message_create", posted)
    events += await feed(
        client,
        "message_update",
        p.message(mid, channel_id=p.THREAD, content="second", edited_at=p.T0 + timedelta(hours=1)),
    )
    events += await feed(client, "message_reaction_add", p.reaction_add(mid, channel_id=p.THREAD))
    events += await feed(
        client, "message_reaction_remove", p.reaction_remove(mid, channel_id=p.THREAD)
    )
    events += await feed(client, "message_delete", p.message_delete(mid, channel_id=p.THREAD))
    assert [type(e) for e in events] == [
        MessagePosted,
        MessageEdited,
        ReactionAdded,
        ReactionRemoved,
        MessageDeleted,
    ]
    keys = {(e.community, e.channel, e.message) for e in events}  # type: ignore[attr-defined]
    assert keys == {(str(p.GUILD), str(p.GENERAL), str(mid))}


async def test_same_message_replayed_gives_the_same_event(client: CohortDiscordClient) -> None:
    """Seeing the same gateway message twice yields identical events (replays are idempotent)."""
    payload = p.message(p.snowflake(1), content=f"hi <@{p.BOB}>", mentions=[p.BOB])
    first = await feed(client, "message_create", payload)
    second = await feed(client, "message_create", payload)
    assert first == second and len(first) == 1


async def test_mentions_exclude_bots_and_author_and_markup_is_scrubbed(
    client: CohortDiscordClient,
) -> None:
    """Mentions list only other human members; user/role/channel/emoji markup leaves the text."""
    content = (
        f"hey <@{p.BOB}> and <@!{p.HELPER_BOT}>, me <@{p.ALICE}>: see <#{p.ANNOUNCE}> "
        f"<@&{p.GUILD}> <:party_blob:{p.PARTY}>"
    )
    payload = p.message(p.snowflake(1), content=content, mentions=[p.BOB, p.HELPER_BOT, p.ALICE])
    (event,) = await feed(client, "message_create", payload)
    assert isinstance(event, MessagePosted)
    assert event.mentions == (str(p.BOB),)
    assert event.text == "hey @user and @user, me @user: see #channel @role :party_blob:"
    assert str(p.BOB) not in event.text and str(p.PARTY) not in event.text


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(p.message(p.snowflake(1), author=p.HELPER_BOT), id="other-bot"),
        pytest.param(p.message(p.snowflake(1), author=p.ME), id="own-message"),
        pytest.param(
            p.message(p.snowflake(1), author=p.webhook_author(), webhook_id=p.WEBHOOK),
            id="webhook",
        ),
        pytest.param(
            p.message(p.snowflake(1), author=p.BOB, guild=False, channel_id=p.DM_CHANNEL),
            id="dm",
        ),
        pytest.param(p.message(p.snowflake(1), type_=7, content=""), id="system-join-notice"),
        pytest.param(p.message(p.snowflake(1), type_=6, content=""), id="system-pin-notice"),
        pytest.param(
            p.message(p.snowflake(1), type_=18, content="help"), id="system-thread-created"
        ),
    ],
)
async def test_messages_not_stored(client: CohortDiscordClient, payload: dict[str, Any]) -> None:
    """Bot, own, webhook, DM and system messages produce no event."""
    assert await feed(client, "message_create", payload) == []


async def test_message_in_uncached_guild_still_stored(client: CohortDiscordClient) -> None:
    """A guild message whose guild is not cached yet keeps its ids (names unknown)."""
    payload = p.message(p.snowflake(1))
    payload["guild_id"] = str(p.snowflake(-5_000, 9))
    (event,) = await feed(client, "message_create", payload)
    assert isinstance(event, MessagePosted)
    assert event.community == payload["guild_id"]
    assert event.channel == str(p.GENERAL)
    assert event.community_name is None and event.channel_name is None


# --- edits and deletes ------------------------------------------------------------------


async def test_edit_uses_edited_timestamp_and_scrubs(client: CohortDiscordClient) -> None:
    """MESSAGE_UPDATE with new content becomes MessageEdited at the payload's edit time."""
    mid = p.snowflake(1)
    await feed(client, "message_create", p.message(mid, content="draft"))
    edited_at = p.T0 + timedelta(minutes=5)
    update = p.message(mid, content=f"final, cc <@{p.BOB}>", mentions=[p.BOB], edited_at=edited_at)
    assert await feed(client, "message_update", update) == [
        MessageEdited(
            platform="discord",
            community=str(p.GUILD),
            channel=str(p.GENERAL),
            message=str(mid),
            text="final, cc @user",
            ts=edited_at,
        )
    ]


async def test_edit_of_uncached_message_is_still_translated(client: CohortDiscordClient) -> None:
    """An edit of a message posted before the bot connected (not in cache) is still stored."""
    mid = p.snowflake(-60)
    update = p.message(mid, content="fixed typo", edited_at=p.T0)
    (event,) = await feed(client, "message_update", update)
    assert isinstance(event, MessageEdited)
    assert event.message == str(mid) and event.text == "fixed typo"


async def test_update_without_edit_time_is_not_an_edit(client: CohortDiscordClient) -> None:
    """An update with edited_timestamp null (embeds resolved, pinned) changes no text: skipped."""
    mid = p.snowflake(1)
    await feed(client, "message_create", p.message(mid, content="see https://rust-lang.org"))
    unfurled = p.message(mid, content="see https://rust-lang.org")
    unfurled["embeds"] = [{"type": "link", "url": "https://rust-lang.org", "title": "Rust"}]
    assert await feed(client, "message_update", unfurled) == []


async def test_edit_by_bot_is_skipped(client: CohortDiscordClient) -> None:
    """Edits of bot messages are not stored, like the messages themselves."""
    update = p.message(p.snowflake(1), author=p.HELPER_BOT, content="v2", edited_at=p.T0)
    assert await feed(client, "message_update", update) == []


async def test_update_without_content_is_skipped(client: CohortDiscordClient) -> None:
    """A partial update payload lacking `content` yields no MessageEdited."""
    full = p.message(p.snowflake(1), edited_at=p.T0)
    channel = client.get_channel(p.GENERAL)
    assert isinstance(channel, discord.TextChannel)
    message = discord.Message(state=client._connection, channel=channel, data=full)  # type: ignore[arg-type]
    partial = {k: v for k, v in full.items() if k != "content"}
    raw = discord.RawMessageUpdateEvent(data=partial, message=message)  # type: ignore[arg-type]
    assert translate.message_edited(raw) is None


async def test_delete(client: CohortDiscordClient) -> None:
    """MESSAGE_DELETE becomes MessageDeleted, stamped with the current UTC time."""
    mid = p.snowflake(1)
    await feed(client, "message_create", p.message(mid))
    (event,) = await feed(client, "message_delete", p.message_delete(mid))
    assert isinstance(event, MessageDeleted)
    assert (event.community, event.channel, event.message) == (
        str(p.GUILD),
        str(p.GENERAL),
        str(mid),
    )
    assert just_now(event.ts)


async def test_bulk_delete(client: CohortDiscordClient) -> None:
    """MESSAGE_DELETE_BULK becomes one MessageDeleted per message, cached or not."""
    cached = p.snowflake(2)
    await feed(client, "message_create", p.message(cached))
    ids = [p.snowflake(3), p.snowflake(1), cached]
    events = await feed(client, "message_delete_bulk", p.message_delete_bulk(ids))
    assert all(isinstance(e, MessageDeleted) for e in events)
    assert [e.message for e in events] == [str(i) for i in sorted(ids)]  # type: ignore[attr-defined]
    assert {e.channel for e in events} == {str(p.GENERAL)}  # type: ignore[attr-defined]
    assert all(just_now(e.ts) for e in events)


async def test_bulk_delete_in_thread_maps_to_parent(client: CohortDiscordClient) -> None:
    """A bulk delete inside a cached thread is keyed by the parent channel."""
    await open_thread(client)
    events = await feed(
        client, "message_delete_bulk", p.message_delete_bulk([p.snowflake(1)], channel_id=p.THREAD)
    )
    assert [e.channel for e in events] == [str(p.GENERAL)]  # type: ignore[attr-defined]


# --- reactions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("emoji", "stored"),
    [
        pytest.param(p.unicode_emoji("👍"), "👍", id="unicode"),
        pytest.param(p.unicode_emoji("👍🏽"), "👍🏽", id="unicode-skin-tone"),
        pytest.param(p.guild_emoji(), f"party_blob:{p.PARTY}", id="custom"),
    ],
)
async def test_reaction_add_and_remove(
    client: CohortDiscordClient, emoji: dict[str, Any], stored: str
) -> None:
    """Reactions map to ReactionAdded/ReactionRemoved with the same canonical emoji."""
    mid = p.snowflake(1)
    await feed(client, "message_create", p.message(mid))
    (added,) = await feed(client, "message_reaction_add", p.reaction_add(mid, emoji=emoji))
    (removed,) = await feed(client, "message_reaction_remove", p.reaction_remove(mid, emoji=emoji))
    assert isinstance(added, ReactionAdded)
    assert added == ReactionAdded(
        platform="discord",
        community=str(p.GUILD),
        channel=str(p.GENERAL),
        message=str(mid),
        member=str(p.BOB),
        member_name="bob",
        emoji=stored,
        ts=added.ts,
    )
    assert just_now(added.ts)
    assert isinstance(removed, ReactionRemoved)
    assert (removed.channel, removed.message, removed.member, removed.emoji) == (
        str(p.GENERAL),
        str(mid),
        str(p.BOB),
        stored,
    )
    assert just_now(removed.ts)


async def test_reaction_on_uncached_message(client: CohortDiscordClient) -> None:
    """A reaction to a message older than the cache is still stored (raw events)."""
    old = p.snowflake(-600)
    (event,) = await feed(client, "message_reaction_add", p.reaction_add(old))
    assert isinstance(event, ReactionAdded) and event.message == str(old)


async def test_reaction_in_uncached_thread_keeps_channel_id(client: CohortDiscordClient) -> None:
    """In a thread missing from the cache the parent is unknown: the given channel id is kept."""
    mid = p.snowflake(1)
    payload = p.reaction_add(mid, channel_id=p.UNCACHED_THREAD)
    (event,) = await feed(client, "message_reaction_add", payload)
    assert isinstance(event, ReactionAdded) and event.channel == str(p.UNCACHED_THREAD)


async def test_bot_reactions_are_skipped(client: CohortDiscordClient) -> None:
    """Reactions added or removed by bots (including this one) produce no event."""
    mid = p.snowflake(1)
    for bot_id in (p.HELPER_BOT, p.ME):
        assert await feed(client, "message_reaction_add", p.reaction_add(mid, user_id=bot_id)) == []
        assert (
            await feed(client, "message_reaction_remove", p.reaction_remove(mid, user_id=bot_id))
            == []
        )


# --- members ----------------------------------------------------------------------------


async def test_member_join(client: CohortDiscordClient) -> None:
    """GUILD_MEMBER_ADD becomes MemberJoined at the member's joined_at."""
    joined = p.T0 + timedelta(minutes=7)
    events = await feed(
        client, "guild_member_add", p.member_add(p.USERS[p.CAROL], joined_at=joined)
    )
    assert events == [
        MemberJoined(
            platform="discord",
            community=str(p.GUILD),
            community_name="Rustaceans",
            member=str(p.CAROL),
            member_name="Carol",
            ts=joined,
        )
    ]


async def test_bot_join_is_skipped(client: CohortDiscordClient) -> None:
    """A bot joining the guild produces no event."""
    new_bot = p.user(p.snowflake(-20_000, 42), "another-bot", bot=True)
    assert await feed(client, "guild_member_add", p.member_add(new_bot, joined_at=p.T0)) == []


async def test_member_leave(client: CohortDiscordClient) -> None:
    """GUILD_MEMBER_REMOVE becomes MemberLeft, stamped now."""
    (event,) = await feed(client, "guild_member_remove", p.member_remove(p.USERS[p.BOB]))
    assert isinstance(event, MemberLeft)
    assert (event.community, event.member) == (str(p.GUILD), str(p.BOB))
    assert just_now(event.ts)


async def test_bot_leave_is_skipped(client: CohortDiscordClient) -> None:
    """A bot leaving produces no event (its join was never stored)."""
    assert await feed(client, "guild_member_remove", p.member_remove(p.USERS[p.HELPER_BOT])) == []


# --- failure handling -------------------------------------------------------------------


async def test_handler_exception_is_logged_not_raised(
    net: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing handler logs its traceback, never reaches on_error, and later events flow."""
    sink = RecordingSink(failures=[RuntimeError("sink exploded")])
    client = CohortDiscordClient(sink)
    on_error_calls: list[str] = []

    async def on_error(event_method: str, /, *args: Any, **kwargs: Any) -> None:
        on_error_calls.append(event_method)

    client.on_error = on_error  # type: ignore[method-assign]
    await client.login(GOOD_TOKEN)
    try:
        client._connection.parse_guild_create(p.guild_create())
        with caplog.at_level(logging.ERROR, logger="bot.adapters.discord.client"):
            await feed(client, "message_create", p.message(p.snowflake(1)))
        await feed(client, "message_create", p.message(p.snowflake(2)))
    finally:
        await client.close()
    failures = [r for r in caplog.records if r.name == "bot.adapters.discord.client"]
    assert len(failures) == 1
    assert failures[0].levelno == logging.ERROR and failures[0].exc_info is not None
    assert "sink exploded" in caplog.text
    assert on_error_calls == []
    assert [e.message for e in sink.events] == [str(p.snowflake(2))]  # type: ignore[attr-defined]


async def test_translation_error_is_logged_not_raised(
    client: CohortDiscordClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception inside a translator is caught by the handler and logged."""

    def broken(*_: Any) -> None:
        raise KeyError("surprise field")

    monkeypatch.setattr(translate, "reaction_added", broken)
    with caplog.at_level(logging.ERROR, logger="bot.adapters.discord.client"):
        assert await feed(client, "message_reaction_add", p.reaction_add(p.snowflake(1))) == []
    assert "reaction add handler failed" in caplog.text


# --- client setup and the adapter -------------------------------------------------------


def test_intents() -> None:
    """The client asks for guilds, guild messages, message content, reactions and members only."""
    intents = CohortDiscordClient(RecordingSink()).intents
    assert intents == cohort_intents()
    assert intents.guilds and intents.guild_messages and intents.message_content
    assert intents.guild_reactions and intents.members
    assert not intents.presences and not intents.dm_messages and not intents.voice_states


async def test_start_with_invalid_token_raises_config_error(net: FakeDiscord) -> None:
    """A rejected token surfaces as a ConfigError saying what to fix, with the client closed."""
    adapter = DiscordAdapter(RecordingSink(), BAD_TOKEN)
    with pytest.raises(ConfigError, match="Discord rejected the bot token"):
        await adapter.start()
    assert net.routes() == ["GET /users/@me"]
    assert net.gateway_attempts == 0
    assert adapter.client.is_closed()
    assert not adapter.running
    await adapter.stop()


async def test_start_with_empty_token_fails_without_network(net: FakeDiscord) -> None:
    """An empty token is refused as a ConfigError before any request is made."""
    adapter = DiscordAdapter(RecordingSink(), "  ")
    with pytest.raises(ConfigError, match="no bot token"):
        await adapter.start()
    assert net.routes() == []


async def test_start_returns_with_gateway_running_and_stop_ends_it(
    net: FakeDiscord,
) -> None:
    """start() logs in and returns with the gateway connecting in the background; stop() ends it."""
    adapter = DiscordAdapter(RecordingSink(), GOOD_TOKEN)
    await adapter.start()
    try:
        assert adapter.running
        assert adapter.client.user is not None and adapter.client.user.id == p.ME
        for _ in range(20):
            if net.gateway_attempts:
                break
            await asyncio.sleep(0)
        assert net.gateway_attempts == 1
    finally:
        await adapter.stop()
    assert not adapter.running
    assert adapter.client.is_closed()
    assert net.routes() == ["GET /users/@me", "GET /oauth2/applications/@me"]


async def test_stop_cancels_a_gateway_task_that_does_not_end(
    net: FakeDiscord,
) -> None:
    """stop() cancels the gateway task if it has not ended within stop_timeout."""
    net.gateway = ["hang"]
    adapter = DiscordAdapter(RecordingSink(), GOOD_TOKEN, stop_timeout=0.05)
    await adapter.start()
    await asyncio.sleep(0)
    await asyncio.wait_for(adapter.stop(), timeout=5)
    assert not adapter.running
    assert adapter.client.is_closed()


async def test_gateway_failure_is_logged(
    net: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway that refuses the privileged intents stops the adapter with what to fix."""
    net.gateway = [discord.PrivilegedIntentsRequired(None)]
    adapter = DiscordAdapter(RecordingSink(), GOOD_TOKEN)
    with caplog.at_level(logging.ERROR, logger="bot.adapters.discord.client"):
        await adapter.start()
        for _ in range(50):
            if not adapter.running:
                break
            await asyncio.sleep(0.01)
    assert not adapter.running
    assert "Discord stopped" in caplog.text
    assert "privileged intents" in caplog.text.lower()
    assert adapter.failure is not None
    await adapter.stop()


async def test_start_twice_is_refused(net: FakeDiscord) -> None:
    """A second start() on a running adapter is a programming error."""
    adapter = DiscordAdapter(RecordingSink(), GOOD_TOKEN)
    await adapter.start()
    try:
        with pytest.raises(RuntimeError):
            await adapter.start()
    finally:
        await adapter.stop()


def test_adapter_import_pulls_in_no_ml_stack() -> None:
    """Importing the Discord adapter never imports TensorFlow, Keras or scikit-learn."""
    code = (
        "import sys, bot.adapters.discord\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'sklearn', 'scipy'))\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
