"""`/promote` on Discord tells moderators what happened, not only what was queued.

A real Cohort on SQLite with the demo catalog, real services and `Commands`, a real
`DiscordAdapter` and discord.py interactions parsed from gateway payloads; Discord's
side is the fake of `tests.fakes.discord`. A delivery's final state is
written to its outbox row as the dispatcher records it, or by the real `Dispatcher`
sending through the adapter's `DiscordTransport`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.adapters.discord import DiscordAdapter
from bot.app import Cohort
from bot.core.commands import Commands
from bot.core.delivery.dispatcher import Dispatcher
from bot.core.services.suite import Services
from bot.store import schema as s
from tests.core.services.conftest import load_catalog
from tests.fakes import discord_payloads as p
from tests.fakes.discord import (
    GOOD_TOKEN,
    MANAGE_GUILD,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    custom_ids,
    http_error,
    is_ephemeral,
    settle,
)
from tests.helpers import message, rows, write

GUILD = str(p.GUILD)
EMBED_LINKS = 1 << 14
MODERATOR = MEMBER_PERMISSIONS | MANAGE_GUILD
MISSING_PERMISSIONS = "403 Forbidden (error code: 50013): Missing Permissions"


@pytest.fixture
async def cohort(sqlite_cohort: Cohort) -> Cohort:
    """Cohort with the demo catalog, having seen messages in #general and #announcements."""
    await load_catalog(sqlite_cohort)
    for channel in (p.GENERAL, p.ANNOUNCE):
        await write(
            sqlite_cohort,
            message(community=GUILD, channel=str(channel), member=str(p.CAROL), text="rust"),
        )
    return sqlite_cohort


def guild_without_embeds_in_announcements() -> dict[str, Any]:
    """GUILD_CREATE where #announcements denies Embed Links to @everyone (the bot's only role)."""
    guild = p.guild_create()
    for channel in guild["channels"]:
        if channel["id"] == str(p.ANNOUNCE):
            channel["permission_overwrites"] = [
                {"id": str(p.GUILD), "type": 0, "allow": "0", "deny": str(EMBED_LINKS)}
            ]
    return guild


@pytest.fixture
async def adapter(net: FakeDiscord, cohort: Cohort) -> AsyncIterator[DiscordAdapter]:
    """A started adapter serving commands, reporting outcomes without waiting between looks."""
    adapter = DiscordAdapter(cohort.pipeline, GOOD_TOKEN, commands=Commands(Services.build(cohort)))
    await adapter.start()
    assert adapter.commands is not None
    adapter.commands.outcome_poll = 0.01
    try:
        adapter.client._connection.parse_guild_create(guild_without_embeds_in_announcements())
        await settle()
        yield adapter
    finally:
        await adapter.stop()


async def interact(adapter: DiscordAdapter, payload: dict[str, Any]) -> str:
    """Dispatch INTERACTION_CREATE through discord.py's parser; returns its token."""
    adapter.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    await settle()
    return str(payload["token"])


def texts(net: FakeDiscord, token: str) -> list[str]:
    """What an interaction showed, message by message."""
    return [m["content"] for m in net.shown(token)]


async def confirm_channel_post(adapter: DiscordAdapter, net: FakeDiscord, channel: int) -> str:
    """Preview a promotion to `channel` as a moderator and press Confirm; the press's token."""
    preview = await interact(
        adapter,
        net.slash(
            "promote",
            {"course": "rust-101", "audience": f"channel:{channel}"},
            user=p.BOB,
            permissions=MODERATOR,
        ),
    )
    shown = net.shown(preview)
    confirm = next(cid for m in shown for cid in custom_ids(m) if cid != "pr:cancel")
    return await interact(adapter, net.press(confirm, shown[-1], user=p.BOB, permissions=MODERATOR))


async def until(condition: Any, rounds: int = 2000) -> None:
    """Let the loop run until `condition()` holds (fails the test if it never does)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never held")


async def test_a_channel_the_bot_cannot_post_in_is_refused_before_queueing(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """A channel post is refused up front, naming the missing permission; nothing is queued."""
    token = await interact(
        adapter,
        net.slash(
            "promote",
            {"course": "rust-101", "audience": f"channel:{p.ANNOUNCE}"},
            user=p.BOB,
            permissions=MODERATOR,
        ),
    )
    [shown] = texts(net, token)
    assert "missing permission Embed Links" in shown
    assert not [cid for m in net.shown(token) for cid in custom_ids(m)]  # no Confirm
    assert await rows(cohort, select(s.outbox.c.id)) == []


async def test_the_missing_permission_refusal_is_in_the_moderators_language(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """A zh-CN moderator reads the refusal in Chinese, with Discord's permission name."""
    token = await interact(
        adapter,
        net.slash(
            "promote",
            {"course": "rust-101", "audience": f"channel:{p.ANNOUNCE}"},
            user=p.BOB,
            locale="zh-CN",
            permissions=MODERATOR,
        ),
    )
    [shown] = texts(net, token)
    assert "缺少权限 Embed Links" in shown


async def test_confirm_says_queued_then_follows_up_with_the_real_outcome(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """Confirm says the post is queued; when Discord refused it, the moderator is told why."""
    pressed = await confirm_channel_post(adapter, net, p.GENERAL)
    assert "Queued for the channel" in texts(net, pressed)[0]
    assert "Posted in the channel" not in " ".join(texts(net, pressed))
    # The dispatcher's final state for the post: Discord answered 50013.
    async with cohort.store.write() as conn:
        await conn.execute(update(s.outbox).values(status="failed", last_error=MISSING_PERMISSIONS))
    await until(lambda: len(net.shown(pressed)) == 2)
    follow_up = net.shown(pressed)[1]
    assert is_ephemeral(follow_up)
    assert "could not post in the channel" in follow_up["content"]
    assert "50013" in follow_up["content"]


async def test_discords_refusal_through_the_real_dispatcher_reaches_the_moderator(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """The real Dispatcher and DiscordTransport meet Discord's 50013: the follow-up says so."""
    net.refuse(
        "POST /channels/{channel_id}/messages", http_error(403, 50013, "Missing Permissions")
    )
    pressed = await confirm_channel_post(adapter, net, p.GENERAL)
    assert adapter.commands is not None
    context = adapter.commands.commands.services.context
    report = await Dispatcher(context, adapter.transport()).drain()
    assert report.failed == 1 and net.requests("POST /channels/{channel_id}/messages")
    await until(lambda: len(net.shown(pressed)) == 2)
    follow_up = net.shown(pressed)[1]["content"]
    assert "could not post in the channel" in follow_up and MISSING_PERMISSIONS in follow_up


async def test_promote_status_lists_what_became_of_recent_promotions(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """`/promote status` shows each recent campaign's outcome to the moderator."""
    await confirm_channel_post(adapter, net, p.GENERAL)
    async with cohort.store.write() as conn:
        await conn.execute(update(s.outbox).values(status="sent"))
    token = await interact(
        adapter, net.slash("promote", {"course": "status"}, user=p.BOB, permissions=MODERATOR)
    )
    shown = " ".join(texts(net, token))
    assert f"rust\\-101 → channel:{p.GENERAL}" in shown  # Markdown-escaped
    assert "posted in the channel" in shown


async def test_promote_status_is_for_moderators_only(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """A member without moderator rights gets the refusal, not the campaigns."""
    token = await interact(adapter, net.slash("promote", {"course": "status"}, user=p.BOB))
    assert texts(net, token) == ["Only moderators and admins can do this."]
