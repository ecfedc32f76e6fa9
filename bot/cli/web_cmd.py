"""`cohort web`: only the HTTP side (purchase webhook and click redirect), no bots."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from bot.cli import runtime


def web(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Address to listen on. Default: [web] host.", show_default=False
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port to listen on. Default: [web] port.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the purchase webhook and the click redirect until SIGINT/SIGTERM (then flush).

    Runs the ingest pipeline too, so accepted purchases are written; everything
    accepted is written before it exits. See docs/webhook.md.
    """
    config = runtime.settings(ctx)
    from bot.logging_setup import configure_logging

    configure_logging("DEBUG" if runtime.state(ctx).verbose > 1 else config.logging.level)

    async def go() -> None:
        from bot.serve import serve
        from bot.web.server import WebServer

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with runtime.opened(config) as cohort:
            await serve(cohort, {"web": WebServer(cohort, host=host, port=port)}, stop)

    runtime.run(go())
