"""Where live ingestion stopped: the newest stored message per channel and thread."""

from __future__ import annotations

from bot.app import Cohort
from bot.store import kv
from bot.store.history import latest_message_ids
from tests.helpers import at, consent, message, write


async def test_latest_message_id_per_channel_and_thread(cohort: Cohort) -> None:
    """Newest id per (channel, thread), compared as numbers, only in the asked community."""
    await write(
        cohort,
        consent("u1", community="100"),
        consent("u1", community="200"),
        message(community="100", channel="1", message="999", ts=at(1)),
        message(community="100", channel="1", message="1000", ts=at(2)),  # longer, yet newer
        message(community="100", channel="1", thread="7", message="1500", ts=at(3)),
        message(community="100", channel="2", message="1200", ts=at(4)),
        message(community="200", channel="3", message="5000", ts=at(5)),
    )
    async with cohort.store.read() as conn:
        latest = await latest_message_ids(conn, "discord", "100")
        unknown = await latest_message_ids(conn, "discord", "404")
    assert latest == {("1", None): 1000, ("1", "7"): 1500, ("2", None): 1200}
    assert unknown == {}


async def test_kv_values_replace_each_other(cohort: Cohort) -> None:
    """A value set twice under one key reads back as the last one; unknown keys read None."""
    async with cohort.store.write() as conn:
        await kv.set_value(conn, "discord.commands.1", "a")
    async with cohort.store.write() as conn:
        await kv.set_value(conn, "discord.commands.1", "b")
    async with cohort.store.read() as conn:
        assert await kv.get_value(conn, "discord.commands.1") == "b"
        assert await kv.get_value(conn, "nothing") is None
