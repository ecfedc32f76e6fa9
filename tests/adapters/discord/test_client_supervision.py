"""Supervision of the gateway: reconnect with backoff; stop only on what retrying cannot fix.

A real `DiscordAdapter` and discord.py's own `Client.connect` and gateway code; the
fake (`tests.fakes.discord`) answers REST and scripts the gateway socket per
connection attempt: a socket that cannot be opened, or one Discord closes with a
given close code, which discord.py reads as it would from aiohttp.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import discord.backoff
import pytest
from pydantic import SecretStr

from bot.adapters.discord import DiscordAdapter
from bot.adapters.discord.client import BAD_TOKEN, MISSING_INTENTS
from bot.app import Cohort
from bot.errors import ConfigError
from bot.serve import AdapterStopped, serve
from tests.fakes.discord import GOOD_TOKEN, FakeDiscord, http_error
from tests.fakes.sink import RecordingSink

NO_WAIT = 0.0


@pytest.fixture
def net(net: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    """Discord's side: REST and a scripted gateway socket."""
    # discord.py's own reconnect wait (seconds) inside Client.connect: none in tests.
    monkeypatch.setattr(discord.backoff.ExponentialBackoff, "delay", lambda self: NO_WAIT)
    return net


def adapter_for(token: str = GOOD_TOKEN) -> DiscordAdapter:
    """A listening adapter that reconnects at once (no real waiting in tests)."""
    return DiscordAdapter(RecordingSink(), token, backoff=lambda attempt: NO_WAIT)


async def until(condition: object, rounds: int = 2000) -> None:
    """Let the loop run until `condition()` holds (fails the test if it never does)."""
    assert callable(condition)
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never held")


async def test_a_failed_first_connect_is_retried_not_fatal(net: FakeDiscord) -> None:
    """A gateway socket that cannot be opened at start-up is retried; the adapter keeps running."""
    net.gateway = [OSError("connection refused"), OSError("connection refused")]
    adapter = adapter_for()
    await adapter.start()
    try:
        await until(lambda: net.gateway_attempts >= 3)
        assert adapter.running
        assert adapter.failure is None
    finally:
        await adapter.stop()
    assert not adapter.running


async def test_a_connection_discord_drops_is_reopened(
    net: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    """A close that discord.py gives up on (it closes the client) is followed by a new login."""
    net.gateway = [4010]  # invalid shard: discord.py closes the client and raises
    adapter = adapter_for()
    with caplog.at_level(logging.WARNING, logger="bot.adapters.discord.client"):
        await adapter.start()
        try:
            await until(lambda: net.gateway_attempts >= 2)
            assert adapter.running
            assert len(net.requests("GET /users/@me")) == 2  # logged in again
        finally:
            await adapter.stop()
    assert "reconnecting in" in caplog.text


async def test_a_network_failure_at_login_is_retried(net: FakeDiscord) -> None:
    """Discord unreachable while logging in at start-up: start() returns and login is retried."""
    net.refuse("GET /users/@me", aiohttp.ClientConnectionError("cannot connect"))
    adapter = adapter_for()
    await adapter.start()
    try:
        await until(lambda: net.gateway_attempts >= 1)
        assert adapter.running
        assert adapter.client.user is not None
    finally:
        await adapter.stop()


async def test_missing_privileged_intents_stop_with_what_to_fix(
    net: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    """Close code 4014 stops the adapter, once, with one line naming the intents to enable."""
    net.gateway = [4014]
    adapter = adapter_for()
    with caplog.at_level(logging.ERROR, logger="bot.adapters.discord.client"):
        await adapter.start()
        await until(lambda: not adapter.running)
    assert adapter.failure == MISSING_INTENTS
    assert net.gateway_attempts == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "Message Content Intent" in errors[0].getMessage()
    assert errors[0].exc_info is None  # one line, no traceback
    await adapter.stop()


async def test_a_token_revoked_while_running_stops_with_what_to_fix(net: FakeDiscord) -> None:
    """Close code 4004 (authentication failed) stops the adapter with the token fix."""
    net.gateway = [4004]
    adapter = adapter_for()
    await adapter.start()
    await until(lambda: not adapter.running)
    assert adapter.failure == BAD_TOKEN
    await adapter.stop()


async def test_a_rejected_token_at_start_is_a_config_error(net: FakeDiscord) -> None:
    """A 401 at login raises ConfigError saying where to set a valid token; nothing connects."""
    adapter = adapter_for("revoked.token")
    with pytest.raises(ConfigError, match="COHORT_DISCORD__TOKEN"):
        await adapter.start()
    assert net.gateway_attempts == 0
    assert not adapter.running
    await adapter.stop()


async def test_serve_stops_with_the_adapters_reason(
    net: FakeDiscord, sqlite_cohort: Cohort
) -> None:
    """`serve` ends with AdapterStopped naming what to fix when the adapter gives up."""
    net.gateway = [4014]
    sqlite_cohort.settings.discord.token = SecretStr(GOOD_TOKEN)
    adapter = adapter_for()
    with pytest.raises(AdapterStopped, match="discord: Discord refused the privileged intents"):
        await serve(sqlite_cohort, {"discord": adapter}, asyncio.Event(), health_every=0.01)


async def test_a_server_error_at_login_is_retried(net: FakeDiscord) -> None:
    """A 5xx while logging in is an outage, not a bad token: the adapter keeps trying."""
    net.refuse("GET /users/@me", http_error(503, 0, "Service Unavailable"))
    adapter = adapter_for()
    await adapter.start()
    try:
        await until(lambda: net.gateway_attempts >= 1)
        assert adapter.running and adapter.failure is None
    finally:
        await adapter.stop()
