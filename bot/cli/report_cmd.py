"""`cohort report`: one self-contained HTML page of charts about the communities."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from bot.cli import runtime
from bot.cli.engage_cmds import opened_services, resolve_community


class ReportLocale(StrEnum):
    """Languages the report is written in."""

    EN = "en"
    ZH_HANS = "zh_Hans"


def report(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="The HTML file to write.", dir_okay=False)
    ] = Path("report.html"),
    locale: Annotated[
        ReportLocale | None,
        typer.Option("--locale", help="Language of the page (default: the community's)."),
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=3650, help="The last N days.")] = 30,
    community: Annotated[
        str | None,
        typer.Option("--community", help="platform:id of one community (default: all)."),
    ] = None,
) -> None:
    """Write an HTML report: activity, segments, influencers, topics, funnel, deliveries."""
    config = runtime.settings(ctx)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.is_dir():
        raise runtime.fail(f"{out}: folder {folder} does not exist")

    async def go() -> str:
        from bot.report.build import build_report

        async with opened_services(config) as services:
            chosen = [await resolve_community(services, community)] if community else None
            return await build_report(
                services.context,
                services.funnel,
                days=days,
                locale=locale.value if locale else None,
                communities=chosen,
            )

    html = runtime.run(go())
    from bot.report.build import write_atomically

    try:
        write_atomically(out, html)
    except OSError as exc:
        raise runtime.fail(f"{out}: {exc.strerror or exc}") from None
    runtime.out.print(f"wrote {out} ({len(html.encode()) // 1024:,} KiB)", markup=False)
