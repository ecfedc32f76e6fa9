"""`/insights` on Discord: the summary with its chart as an upload, and the full report as a
file from its button. Real discord.py objects; only Discord's HTTP side is fake."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from PIL import Image

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
from tests.fakes.discord import (
    MANAGE_GUILD,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    custom_ids,
    is_ephemeral,
)
from tests.helpers import message, write

__all__ = ["adapter", "cohort", "commands"]
MODERATOR = MEMBER_PERMISSIONS | MANAGE_GUILD


async def test_insights_sends_a_chart_and_its_button_sends_the_report(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """A moderator's /insights carries a PNG chart; "Full report" uploads the HTML page."""
    today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    await write(
        cohort,
        message(community=GUILD, channel=str(p.GENERAL), member=str(p.CAROL), ts=today),
    )
    token = await interact(adapter, net.slash("insights", user=p.BOB, permissions=MODERATOR))
    shown = net.shown(token)
    assert all(is_ephemeral(m) for m in shown)
    assert "Insights:" in shown[0]["content"]
    ((name, data),) = [f for m in shown for f in m.get("_files", [])]
    assert name == "insights.png"
    chart = Image.open(io.BytesIO(data), formats=["PNG"])
    assert chart.width > 300 and chart.height > 100
    (holder,) = [m for m in shown if custom_ids(m)]
    assert custom_ids(holder) == ["rp:"]

    pressed = await interact(adapter, net.press("rp:", holder, user=p.BOB, permissions=MODERATOR))
    answer = net.shown(pressed)
    ((name, data),) = [f for m in answer for f in m.get("_files", [])]
    assert name == "cohort-report.html" and all(is_ephemeral(m) for m in answer)
    page = data.decode("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "data:image/png;base64," in page


async def test_members_get_neither_chart_nor_report(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """Without Manage Server the command and the button are refused, with nothing attached."""
    token = await interact(adapter, net.slash("insights", user=p.BOB))
    (refusal,) = net.shown(token)
    assert "Only moderators" in refusal["content"] and not refusal.get("_files")
    fake_holder = {**refusal, "components": []}
    pressed = await interact(adapter, net.press("rp:", fake_holder, user=p.BOB))
    (refusal,) = net.shown(pressed)
    assert "Only moderators" in refusal["content"] and not refusal.get("_files")
