"""`cohort web`: only the HTTP side (purchase webhook and click redirect), no bots."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli import runtime


def web(
    ctx: typer.Context,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Address to listen on. Default: \\[web] host.", show_default=False
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port to listen on. Default: \\[web] port.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the purchase webhook and the click redirect until SIGINT/SIGTERM (then flush).

    Runs the ingest pipeline too, so accepted purchases are written; everything
    accepted is written before it exits. See docs/webhook.md.
    """
    config = runtime.settings(ctx)
    runtime.configure_service_logging(ctx, config)

    async def go() -> None:
        from bot.serve import serve
        from bot.web.server import WebServer

        stop = runtime.stop_on_signals()
        async with runtime.opened(config) as cohort:
            await serve(cohort, {"web": WebServer(cohort, host=host, port=port)}, stop)

    runtime.run(go())
