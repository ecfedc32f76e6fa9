"""`/digest` on Discord: registered for moderators, preview and now answered ephemerally.
Real discord.py objects; only Discord's HTTP side is fake."""

from __future__ import annotations

from bot.adapters.discord import DiscordAdapter
from bot.app import Cohort
from tests.adapters.discord.test_commands import (  # the fixtures of the command tests
    GUILD,
    adapter,
    cohort,
    commands,
    interact,
)
from tests.fakes import discord_payloads as p
from tests.fakes.discord import MANAGE_GUILD, MEMBER_PERMISSIONS, FakeDiscord, is_ephemeral
from tests.helpers import consent, message, write

__all__ = ["adapter", "cohort", "commands"]
MODERATOR = MEMBER_PERMISSIONS | MANAGE_GUILD


async def test_digest_is_synced_with_an_action_option_for_moderators(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """The synced /digest has a required, autocompleted `action` and moderator defaults."""
    (digest,) = [c for c in net.synced or [] if c["name"] == "digest"]
    (action,) = digest["options"]
    assert action["name"] == "action" and action["required"] and action["autocomplete"]
    assert digest["default_member_permissions"] is not None


async def test_a_moderator_previews_then_queues_the_digest(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """/digest preview is ephemeral and queues nothing; /digest now queues it; both private."""
    await write(
        cohort,
        consent(str(p.CAROL), True, True, community=GUILD),
        message(community=GUILD, channel=str(p.GENERAL), member=str(p.CAROL)),
    )
    opts = {"action": "preview"}
    token = await interact(adapter, net.slash("digest", opts, user=p.BOB, permissions=MODERATOR))
    shown = net.shown(token)
    assert all(is_ephemeral(m) for m in shown)
    assert "Digest preview" in str(shown) and "up to 1 member who" in str(shown)

    opts = {"action": "now"}
    token = await interact(adapter, net.slash("digest", opts, user=p.BOB, permissions=MODERATOR))
    shown = net.shown(token)
    assert all(is_ephemeral(m) for m in shown) and "1 personal digests" in str(shown)


async def test_a_member_is_refused(adapter: DiscordAdapter, net: FakeDiscord) -> None:
    """A member without Manage Server or the moderator role gets the refusal."""
    token = await interact(adapter, net.slash("digest", {"action": "now"}, user=p.CAROL))
    assert "Only moderators" in str(net.shown(token))
