"""`cohort run`: the bots."""

from __future__ import annotations

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
    runtime.configure_service_logging(ctx, config)

    async def go() -> None:
        from bot.core.commands import Commands
        from bot.core.jobs import JobRunner, background_jobs
        from bot.core.services.suite import Services
        from bot.serve import build_adapters, serve, transports_of

        stop = runtime.stop_on_signals()
        async with runtime.opened(config) as cohort:
            services = Services.build(cohort, instance=instance_name())
            adapters = build_adapters(
                cohort, discord=discord, telegram=telegram, commands=Commands(services)
            )
            jobs = JobRunner(background_jobs(services, transports_of(adapters)))
            await serve(cohort, adapters, stop, jobs=jobs)

    runtime.run(go())
