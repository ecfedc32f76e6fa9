"""`cohort export KIND`: members, segments, scores, funnel or deliveries as CSV or JSON.

What each table holds, and what it leaves out for members who did not consent, is
described in `bot/core/services/exports.py` and docs/exports.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli import runtime

KINDS = ("members", "segments", "scores", "funnel", "deliveries")
FORMATS = ("csv", "json")


def _choice(what: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise runtime.fail(f"unknown {what} {value!r} (choose {', '.join(choices)})", 2)
    return value


def export(
    ctx: typer.Context,
    kind: Annotated[
        str,
        typer.Argument(help="members, segments, scores, funnel or deliveries.", show_default=False),
    ],
    output: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write to this file (default: stdout).", show_default=False),
    ] = None,
    k: Annotated[
        int | None,
        typer.Option(
            "--k", min=1, max=50, help="Picks per member in `scores`.", show_default=False
        ),
    ] = None,
) -> None:
    """Export a table for a spreadsheet or a marketing tool (consent respected).

    Only members Cohort may identify today are named; others are left out (or, in
    deliveries, the recipient is left empty). CSV cells that a spreadsheet would
    evaluate as a formula start with a `'`. See docs/exports.md.
    """
    import sys

    from bot.cli.engage_cmds import opened_services
    from bot.cli.files import write_atomically
    from bot.cli.tabular import TableFormat, render
    from bot.core.services.exports import ExportKind, ExportService, ExportTable

    chosen = ExportKind(_choice("export", kind, KINDS))
    form = TableFormat(_choice("format", output, FORMATS))
    if out is not None and out.is_dir():
        raise runtime.fail(f"{out}: is a folder, not a file")
    config = runtime.settings(ctx)

    async def go() -> ExportTable:
        async with opened_services(config) as services:
            exports = ExportService(services.context, services.funnel)
            return await exports.export(chosen, k=k)

    table = runtime.run(go())
    text = render(table, form)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        try:
            write_atomically(out, text)
        except OSError as exc:
            raise runtime.fail(f"{out}: {exc.strerror or exc}") from None
        rows = len(table.rows)
        runtime.err.print(f"wrote {rows:,} row{'' if rows == 1 else 's'} to {out}", markup=False)
    if table.unnamed:
        what = (
            f"recipient left empty on {table.unnamed:,} deliveries"
            if chosen is ExportKind.deliveries
            else f"{table.unnamed:,} row{'' if table.unnamed == 1 else 's'} left out"
        )
        runtime.err.print(
            f"note: {what}: members Cohort may not identify (no consent, objected)",
            markup=False,
        )
