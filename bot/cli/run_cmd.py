"""`cohort run`: the bots, the background jobs and the web server."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import runtime
from bot.cli.engage_cmds import TransportChoice

if TYPE_CHECKING:
    from bot.core.delivery.transport import Transport
    from bot.core.jobs import JobRunner
    from bot.core.leadership import Leadership
    from bot.core.services.suite import Services


def instance_name() -> str:
    """How this process is named in run claims and logs: host and pid."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"


def scheduler(services: Services, transports: Mapping[str, Transport]) -> JobRunner | Leadership:
    """The background jobs: all of them on SQLite; on PostgreSQL only the leader's run them.

    Several instances may share a PostgreSQL database; the one holding the leader lock
    runs the scheduled jobs and the dispatcher, the others take over when it dies
    (docs/reliability.md). Jobs that refresh this process's own state run everywhere.
    """
    from bot.core.jobs import JobRunner, background_jobs
    from bot.core.leadership import Leadership
    from bot.store.leader import LeaderLock

    cohort = services.context.cohort
    if cohort.store.dialect != "postgresql":
        return JobRunner(background_jobs(services, transports))

    def leader_jobs() -> JobRunner:
        return JobRunner([j for j in background_jobs(services, transports) if not j.per_instance])

    return Leadership(
        LeaderLock(cohort.store.engines.write),
        leader_jobs,
        poll_seconds=cohort.settings.database.leader_poll_seconds,
        everywhere=[j for j in background_jobs(services, transports) if j.per_instance],
    )


def run(
    ctx: typer.Context,
    discord: Annotated[
        bool, typer.Option("--discord/--no-discord", help="Run the Discord bot.")
    ] = True,
    telegram: Annotated[
        bool, typer.Option("--telegram/--no-telegram", help="Run the Telegram bot.")
    ] = True,
    transport: Annotated[
        TransportChoice,
        typer.Option(
            "--transport",
            help="queue: send through the bots; file: write every delivery to --out instead.",
            case_sensitive=False,
        ),
    ] = TransportChoice.QUEUE,
    out: Annotated[
        Path | None, typer.Option("--out", help="The JSON-lines file for --transport file.")
    ] = None,
) -> None:
    r"""Run the Discord and/or Telegram bots until SIGINT/SIGTERM (then flush and exit).

    Background jobs (sending, digests, attribution, retention) and, with `\[web]
    enabled`, the web server run too; `--no-discord --no-telegram` runs only those,
    without any token. One instance per SQLite file: a second one refuses to start.
    On PostgreSQL any number may run; one of them (the leader) runs the jobs and sends.
    `--transport file --out F` writes deliveries to F instead of sending them.
    """
    if transport is TransportChoice.FILE and out is None:
        raise runtime.fail("--transport file needs --out FILE")
    if transport is not TransportChoice.FILE and out is not None:
        raise runtime.fail("--out only applies with --transport file")
    config = runtime.settings(ctx)
    runtime.configure_service_logging(ctx, config)

    async def go() -> None:
        from bot.core.commands import Commands
        from bot.core.delivery.transport import FileTransport
        from bot.core.services.suite import Services
        from bot.domain.events import PLATFORMS
        from bot.serve import build_adapters, serve, transports_of
        from bot.store.instance_lock import single_instance

        stop = runtime.stop_on_signals()
        with single_instance(config.database_url):
            async with runtime.opened(config) as cohort:
                services = Services.build(cohort, instance=instance_name())
                adapters = build_adapters(
                    cohort, discord=discord, telegram=telegram, commands=Commands(services)
                )
                file = FileTransport(out) if out is not None else None
                transports = dict.fromkeys(PLATFORMS, file) if file else transports_of(adapters)
                try:
                    await serve(cohort, adapters, stop, jobs=scheduler(services, transports))
                finally:
                    if file is not None:
                        file.close()

    runtime.run(go())
