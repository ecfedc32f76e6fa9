"""Running the bots: a live update flows through the adapter and pipeline into the store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.adapters.telegram import TelegramAdapter
from bot.app import Cohort
from bot.errors import ConfigError
from bot.serve import AdapterStopped, build_adapters, serve
from bot.store import schema as s
from tests.conftest import make_settings
from tests.fakes import telegram_payloads as tg
from tests.fakes.telegram import TOKEN_REJECTED, FakeTelegram
from tests.helpers import consent, rows, write


@pytest.fixture
async def cohort(tmp_path: Path) -> Any:
    app = await Cohort.build(
        make_settings(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", ingest={"batch_seconds": 0.02})
    )
    yield app
    await app.store.close()


async def wait_for(condition: Any, limit: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


async def test_a_live_telegram_message_reaches_the_store(cohort: Cohort) -> None:
    """getUpdates -> PTB handler -> ingest() -> writer -> a stored message, then a clean stop."""
    alice = str(tg.ALICE["id"])
    await write(
        cohort,
        consent(alice, platform="telegram", community=str(tg.GROUP_ID)),
    )
    api = FakeTelegram(polling=True)
    api.deliver(tg.update(message=tg.message("anyone tried tokio-console?")))
    adapter = TelegramAdapter(cohort.pipeline, tg.TOKEN, request=api)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(cohort, {"telegram": adapter}, stop, health_every=0.05))

    async def stored() -> bool:
        return bool(await rows(cohort, select(s.messages.c.text)))

    await wait_for(stored)
    stop.set()
    await running
    [message] = await rows(cohort, select(s.messages.c.text, s.messages.c.platform_id))
    assert message.text == "anyone tried tokio-console?"
    assert not adapter.running
    assert cohort.pipeline.stats().written >= 1


async def test_a_rejected_token_is_a_one_line_config_error(cohort: Cohort) -> None:
    """A token Telegram refuses stops start-up with an error naming the platform."""
    api = FakeTelegram()
    api.fail("getMe", TOKEN_REJECTED)
    adapter = TelegramAdapter(cohort.pipeline, tg.TOKEN, request=api)
    with pytest.raises(ConfigError, match=r"^telegram: could not start \(InvalidToken") as error:
        await serve(cohort, {"telegram": adapter}, asyncio.Event())
    assert tg.TOKEN not in str(error.value)


async def test_a_connection_that_ends_stops_the_bot(cohort: Cohort) -> None:
    """If a platform connection dies on its own, serve() fails loudly instead of running deaf."""
    adapter = TelegramAdapter(cohort.pipeline, tg.TOKEN, request=FakeTelegram(polling=True))
    stop = asyncio.Event()
    running = asyncio.create_task(serve(cohort, {"telegram": adapter}, stop, health_every=0.05))
    await wait_for(lambda: _true(adapter.running))
    assert adapter.application.updater is not None
    await adapter.application.updater.stop()  # the connection ends unexpectedly
    with pytest.raises(AdapterStopped, match="telegram: connection ended"):
        await asyncio.wait_for(running, 10)


async def _true(value: bool) -> bool:
    return value


async def test_no_token_configured_is_an_error(cohort: Cohort) -> None:
    """`cohort run` without any token explains which settings to fill in."""
    with pytest.raises(ConfigError, match="no platform token configured"):
        build_adapters(cohort, discord=True, telegram=True)


async def test_only_configured_platforms_are_built(tmp_path: Path) -> None:
    """A Telegram token alone builds just the Telegram adapter (nothing connects yet)."""
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", telegram={"token": tg.TOKEN}
    )
    app = await Cohort.build(settings)
    try:
        adapters = build_adapters(app, discord=True, telegram=True)
        assert list(adapters) == ["telegram"]
        assert build_adapters(app, discord=True, telegram=True)["telegram"].running is False
        with pytest.raises(ConfigError):
            build_adapters(app, discord=True, telegram=False)
    finally:
        await app.store.close()


async def test_a_running_bot_sends_what_the_outbox_holds(cohort: Cohort) -> None:
    """`cohort run`'s wiring: commands, the Telegram transport and the delivery job.

    A DM queued in the outbox (as `/promote` or a digest would) is sent through the
    live adapter's transport by the background job while the bot serves.
    """
    from bot.core.commands import Commands
    from bot.core.jobs import JobRunner, background_jobs
    from bot.core.services.suite import Services
    from bot.serve import transports_of
    from bot.store import outbox
    from bot.store.communities import find_community
    from bot.store.members import find_member

    alice, group = str(tg.ALICE["id"]), str(tg.GROUP_ID)
    await write(cohort, consent(alice, dm=True, platform="telegram", community=group))
    services = Services.build(cohort)
    api = FakeTelegram(polling=True)
    adapters = {
        "telegram": TelegramAdapter(
            cohort.pipeline, tg.TOKEN, request=api, commands=Commands(services)
        )
    }
    transports = transports_of(adapters)
    assert list(transports) == ["telegram"]
    async with cohort.store.write() as conn:
        place = await find_community(conn, "telegram", group)
        member = await find_member(conn, "telegram", alice)
        assert place is not None and member is not None
        reply = {"title": "Rust from Zero", "blocks": [], "buttons": [], "private": True}
        await outbox.enqueue(
            conn,
            [
                outbox.NewDelivery(
                    kind="dm",
                    purpose="promotion",
                    payload={"platform": "telegram", "recipient": alice, "community": group,
                             "reply": reply},
                    dedupe_key="test:1",
                    community_id=place.id,
                    member_id=member.id,
                )
            ],
            services.context.clock(),
        )  # fmt: skip
    stop = asyncio.Event()
    jobs = JobRunner(background_jobs(services, transports))
    running = asyncio.create_task(serve(cohort, adapters, stop, health_every=0.05, jobs=jobs))

    async def sent() -> bool:
        statuses = await rows(cohort, select(s.outbox.c.status))
        return [row.status for row in statuses] == ["sent"]

    await wait_for(sent)
    stop.set()
    await running
    [message] = api.sent("sendMessage", chat_id=int(alice))
    assert "Rust from Zero" in message.parameters["text"]
