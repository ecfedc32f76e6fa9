"""`cohort run`: the bots."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from bot.cli import runtime


def instance_name() -> str:
    """How this process is named in run claims and logs: host and pid."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def run(
    ctx: typer.Context,
    discord: Annotated[
        bool, typer.Option("--discord/--no-discord", help="Run the Discord bot.")
    ] = True,
    telegram: Annotated[
        bool, typer.Option("--telegram/--no-telegram", help="Run the Telegram bot.")
    ] = True,
) -> None:
    """Run the Discord and/or Telegram bots until SIGINT/SIGTERM (then flush and exit)."""
    config = runtime.settings(ctx)
    from bot.logging_setup import configure_logging

    configure_logging("DEBUG" if runtime.state(ctx).verbose > 1 else config.logging.level)

    async def go() -> None:
        from bot.core.commands import Commands
        from bot.core.jobs import JobRunner, background_jobs
        from bot.core.services.suite import Services
        from bot.serve import build_adapters, serve, transports_of

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with runtime.opened(config) as cohort:
            services = Services.build(cohort, instance=instance_name())
            adapters = build_adapters(
                cohort, discord=discord, telegram=telegram, commands=Commands(services)
            )
            jobs = JobRunner(background_jobs(services, transports_of(adapters)))
            await serve(cohort, adapters, stop, jobs=jobs)

    runtime.run(go())
