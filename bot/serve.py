"""Running the bots: start the pipeline and the configured adapters, stop them cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from bot.app import Cohort
from bot.errors import CohortError, ConfigError

if TYPE_CHECKING:
    from bot.core.commands import Commands
    from bot.core.delivery.transport import Transport
    from bot.core.jobs import JobRunner
    from bot.core.leadership import Leadership

log = logging.getLogger(__name__)

STATS_EVERY = 60.0
HEALTH_EVERY = 5.0


class Adapter(Protocol):
    """A platform connection: translate its events into core events, and stop cleanly."""

    @property
    def running(self) -> bool:
        """Whether the connection to the platform is up."""
        ...

    async def start(self) -> None:
        """Connect; raise if the platform rejects the credentials."""
        ...

    async def stop(self) -> None:
        """Disconnect; safe to call after a failed start."""
        ...


@runtime_checkable
class Sender(Protocol):
    """An adapter that can also deliver messages (the platform bots)."""

    def transport(self) -> Transport:
        """The transport sending through this adapter's connection."""
        ...


def transports_of(adapters: dict[str, Adapter]) -> dict[str, Transport]:
    """Platform name -> transport, for every adapter that can send."""
    return {
        name: adapter.transport()
        for name, adapter in adapters.items()
        if isinstance(adapter, Sender)
    }


class AdapterStopped(CohortError):
    """A platform connection ended while the bot was meant to be running."""


def build_adapters(
    cohort: Cohort,
    *,
    discord: bool,
    telegram: bool,
    web: bool = True,
    commands: Commands | None = None,
) -> dict[str, Adapter]:
    """The adapters to run: those enabled by the caller and configured with a token.

    With `commands`, the bots also answer commands and buttons (else they only ingest).
    The web server (click redirects, purchase webhook) runs alongside when `[web]`
    is enabled. A platform the caller wants but has no token is an error, unless
    another one runs; with both platforms turned off (`--no-discord --no-telegram`)
    no token is needed: only the web server and the jobs run (the bots may run
    elsewhere).
    """
    settings = cohort.settings
    adapters: dict[str, Adapter] = {}
    if discord and settings.discord.enabled:
        from bot.adapters.discord import DiscordAdapter

        adapters["discord"] = DiscordAdapter.for_cohort(cohort, commands=commands)
    if telegram and settings.telegram.enabled:
        from bot.adapters.telegram import TelegramAdapter
        from bot.adapters.telegram.receiving import Webhook

        adapters["telegram"] = TelegramAdapter(
            cohort.pipeline,
            settings.telegram.token.get_secret_value(),
            commands=commands,
            webhook=Webhook.from_settings(settings.telegram),
        )
    if not adapters and (discord or telegram):
        raise ConfigError(
            "no platform token configured: set discord.token / telegram.token in the config "
            "or COHORT_DISCORD__TOKEN / COHORT_TELEGRAM__TOKEN"
        )
    if web and settings.web.enabled:
        from bot.web import WebServer

        adapters["web"] = WebServer(cohort)
    return adapters


async def _start(name: str, adapter: Adapter) -> None:
    try:
        await adapter.start()
    except CohortError:
        raise
    except Exception as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{name}: could not start ({type(exc).__name__}: {detail})") from exc


async def serve(
    cohort: Cohort,
    adapters: dict[str, Adapter],
    stop: asyncio.Event,
    *,
    health_every: float = HEALTH_EVERY,
    stats_every: float = STATS_EVERY,
    jobs: JobRunner | Leadership | None = None,
) -> None:
    """Run until `stop` is set, then stop jobs and adapters and flush the pipeline.

    `jobs` (sending, digests, attribution, retention) start once every adapter is up;
    a `Leadership` runs them only while this instance is the leader (PostgreSQL).

    Raises `AdapterStopped` if a platform connection ends on its own (so that a
    process supervisor restarts the bot instead of leaving it deaf).
    """
    cohort.pipeline.start()
    started: list[tuple[str, Adapter]] = []
    loop = asyncio.get_running_loop()
    try:
        for name, adapter in adapters.items():
            await _start(name, adapter)
            started.append((name, adapter))
            log.info("%s adapter started", name)
        if jobs is not None:
            jobs.start()
        next_stats = loop.time() + stats_every
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), health_every)
            dead = [(name, adapter) for name, adapter in started if not adapter.running]
            if dead and not stop.is_set():
                # An adapter that gave up for a reason says what to fix (`failure`).
                reasons = [
                    f"{name}: {getattr(adapter, 'failure', None) or 'connection ended'}"
                    for name, adapter in dead
                ]
                raise AdapterStopped(f"{'; '.join(reasons)}; stopping (see log)")
            if loop.time() >= next_stats:
                log.info("ingest: %s", cohort.pipeline.stats())
                next_stats = loop.time() + stats_every
    finally:
        if jobs is not None:
            await jobs.stop()
        for name, adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("stopping the %s adapter failed", name)
        await cohort.pipeline.stop()
        log.info("stopped; ingest totals: %s", cohort.pipeline.stats())
