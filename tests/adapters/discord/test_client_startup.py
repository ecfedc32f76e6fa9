"""What the Discord bot does between login and the gateway: command sync, and sharding.

The adapter is built as `cohort run` builds it (`DiscordAdapter.for_cohort`, from the
settings), logs in against the fake of `tests.fakes.discord`, and the tests
count what reached Discord: `PUT /applications/{id}/commands` (a sync) and
`GET /gateway/bot` (the shard count an `AutoShardedClient` asks for). The fingerprint
of the synced command set lives in the store's `cohort_meta` table, so the sync tests
run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import discord
import pytest
import yarl
from babel.messages.catalog import Catalog

from bot.adapters.discord import DiscordAdapter
from bot.adapters.discord.client import ShardedCohortDiscordClient
from bot.adapters.discord.commands import CommandTranslator
from bot.app import Cohort
from bot.config import load_settings
from bot.core.commands import Commands
from bot.core.services.suite import Services
from bot.i18n import Translator, translator
from bot.store import kv
from tests.conftest import make_settings
from tests.fakes import discord_payloads as p
from tests.fakes.discord import GOOD_TOKEN, FakeDiscord, http_error

SYNC = "PUT /applications/{application_id}/commands"
GATEWAY = "GET /gateway/bot"
SYNC_KEY = f"discord.commands.{p.ME}"


@pytest.fixture
async def cohort(backend: tuple[str, str | None]) -> AsyncIterator[Cohort]:
    """Cohort with a Discord token configured, on each backend."""
    url, schema = backend
    app = await Cohort.build(make_settings(url, discord={"token": GOOD_TOKEN}), schema=schema)
    try:
        yield app
    finally:
        await app.close()


def chinese(description: str) -> CommandTranslator:
    """A translator whose catalog gives /recommend the Chinese `description`."""
    catalog = Catalog(locale="zh_Hans", domain="cohort")
    catalog.add("Course picks for you", description)
    zh = Translator.from_catalog("zh_Hans", catalog)
    return CommandTranslator(lambda locale: zh if locale.startswith("zh") else translator(locale))


async def log_in_once(cohort: Cohort, command_translator: CommandTranslator | None = None) -> None:
    """One `cohort run` of the Discord bot: log in (syncing the commands if needed), stop."""
    adapter = DiscordAdapter.for_cohort(cohort, commands=Commands(Services.build(cohort)))
    assert adapter.commands is not None
    if command_translator is not None:
        adapter.commands.translator = command_translator
    await adapter.start()
    await adapter.stop()


async def stored_fingerprint(cohort: Cohort) -> str | None:
    """The fingerprint of the last synced command set, as the store holds it."""
    async with cohort.store.read() as conn:
        return await kv.get_value(conn, SYNC_KEY)


async def test_an_unchanged_command_set_is_synced_only_once(
    net: FakeDiscord, cohort: Cohort
) -> None:
    """A second login with the same commands sends no sync: the stored fingerprint matches."""
    await log_in_once(cohort)
    first = await stored_fingerprint(cohort)
    assert len(net.requests(SYNC)) == 1 and first is not None
    await log_in_once(cohort)
    assert len(net.requests(SYNC)) == 1
    assert await stored_fingerprint(cohort) == first


async def test_a_changed_command_set_is_synced_at_the_next_login(
    net: FakeDiscord, cohort: Cohort
) -> None:
    """A changed command set (here a new translation) is synced, and its fingerprint stored."""
    await log_in_once(cohort)
    before = await stored_fingerprint(cohort)
    await log_in_once(cohort, chinese("给你的课程推荐"))
    assert len(net.requests(SYNC)) == 2
    recommend = next(c for c in net.synced or [] if c["name"] == "recommend")
    assert recommend["description_localizations"]["zh-CN"] == "给你的课程推荐"
    after = await stored_fingerprint(cohort)
    assert after is not None and after != before
    await log_in_once(cohort, chinese("给你的课程推荐"))  # unchanged again
    assert len(net.requests(SYNC)) == 2


async def test_a_refused_sync_is_tried_again_at_the_next_login(
    net: FakeDiscord, cohort: Cohort
) -> None:
    """A sync Discord refused stores no fingerprint, so the next login syncs."""
    net.refuse(SYNC, http_error(500, 0, "500: Internal Server Error"))
    await log_in_once(cohort)
    assert len(net.requests(SYNC)) == 1 and net.synced is None
    assert await stored_fingerprint(cohort) is None
    await log_in_once(cohort)
    assert len(net.requests(SYNC)) == 2 and net.synced is not None
    assert await stored_fingerprint(cohort) is not None


# --- sharding ---------------------------------------------------------------------------


def config_file(tmp_path: Path, discord_section: str) -> Path:
    """A config file for a SQLite store next to it, with this `[discord]` section."""
    path = tmp_path / "config.toml"
    path.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "cohort.db"}"\n\n'
        f"[discord]\n{discord_section}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, bool]]:
    """The shards discord.py launches, as (gateway URL, shard id, initial); none connects.

    A shard's gateway handshake is beyond the fake, and discord.py retries a failed
    shard connect every 5 s on its own; so the last step, opening one shard's socket,
    is recorded instead.
    """
    seen: list[tuple[str, int, bool]] = []

    async def launch_shard(
        self: discord.AutoShardedClient, gateway: yarl.URL, shard_id: int, *, initial: bool = False
    ) -> None:
        seen.append((str(gateway), shard_id, initial))

    monkeypatch.setattr(discord.AutoShardedClient, "launch_shard", launch_shard)
    return seen


async def until(condition: Any, rounds: int = 2000) -> None:
    """Let the loop run until `condition()` holds (fails the test if it never does)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never held")


async def test_shards_auto_runs_as_many_shards_as_discord_recommends(
    net: FakeDiscord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    launched: list[tuple[str, int, bool]],
) -> None:
    """`[discord] shards = "auto"`: an AutoShardedClient launching Discord's shard count."""
    net.shards = 3
    monkeypatch.setenv("COHORT_DISCORD__TOKEN", GOOD_TOKEN)
    cohort = await Cohort.build(load_settings(config_file(tmp_path, 'shards = "auto"')))
    try:
        adapter = DiscordAdapter.for_cohort(cohort)
        assert isinstance(adapter.client, ShardedCohortDiscordClient)
        await adapter.start()
        try:
            await until(lambda: len(launched) == 3)
            assert net.requests(GATEWAY) and adapter.running
        finally:
            await adapter.stop()
    finally:
        await cohort.close()
    gateway = "wss://gateway.discord.gg"
    assert launched == [(gateway, 0, True), (gateway, 1, False), (gateway, 2, False)]
    assert adapter.client.shard_count == 3


async def test_a_fixed_shard_count_is_used_without_asking_discord(
    net: FakeDiscord,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    launched: list[tuple[str, int, bool]],
) -> None:
    """`[discord] shards = 2` launches two shards and never asks Discord for a count."""
    monkeypatch.setenv("COHORT_DISCORD__TOKEN", GOOD_TOKEN)
    cohort = await Cohort.build(load_settings(config_file(tmp_path, "shards = 2")))
    try:
        adapter = DiscordAdapter.for_cohort(cohort)
        await adapter.start()
        try:
            await until(lambda: len(launched) == 2)
        finally:
            await adapter.stop()
    finally:
        await cohort.close()
    assert [shard for _, shard, _ in launched] == [0, 1]
    assert net.requests(GATEWAY) == []


async def test_without_shards_the_bot_is_one_gateway_connection(
    net: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `[discord] shards` the client is a plain single-connection discord.Client."""
    monkeypatch.setenv("COHORT_DISCORD__TOKEN", GOOD_TOKEN)
    cohort = await Cohort.build(load_settings(config_file(tmp_path, "backfill_limit = 0")))
    try:
        adapter = DiscordAdapter.for_cohort(cohort)
        assert not isinstance(adapter.client, discord.AutoShardedClient)
        await adapter.start()
        try:
            await until(lambda: net.gateway_attempts == 1)
        finally:
            await adapter.stop()
    finally:
        await cohort.close()
    assert net.requests(GATEWAY) == []
