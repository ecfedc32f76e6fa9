"""`cohort import`: platform exports, Cohort's JSONL events and purchase CSVs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import runtime

if TYPE_CHECKING:
    from bot.app import Cohort
    from bot.importers.base import ImportReport, Parser

app = typer.Typer(
    help="Import history into the store (idempotent; one file = one transaction).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")]


def _summary(report: ImportReport) -> str:
    w = report.written
    parts = [f"{report.events:,} events"]
    for label, value in (
        ("messages stored", w.messages),
        ("anonymous messages", w.anonymous_messages),
        ("edits", w.edits),
        ("reactions", w.reactions + w.anonymous_reactions),
        ("joins", w.joins),
        ("leaves", w.leaves),
        ("consents", w.consents),
        ("interactions", w.interactions),
        ("rejected", w.rejected),
    ):
        if value:
            parts.append(f"{label} {value:,}")
    line = f"imported {report.path}: " + ", ".join(parts) + f" in {report.seconds:.1f}s"
    if report.skipped:
        line += "; skipped: " + ", ".join(f"{k} {v:,}" for k, v in sorted(report.skipped.items()))
    return line


ParserFactory = Callable[["Cohort"], Awaitable["Parser"]]


async def import_paths(
    cohort: Cohort,
    paths: list[Path],
    parser: Parser,
    *,
    show_progress: bool = True,
) -> list[ImportReport]:
    """Import files one by one (each in its own transaction) with a progress bar."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from bot.importers.base import import_file

    reports: list[ImportReport] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=runtime.err,
        transient=True,
        disable=not show_progress,
    ) as progress:
        for path in paths:
            size = path.stat().st_size if path.is_file() else None
            task = progress.add_task(path.name, total=size)

            def advance(done: int, task: TaskID = task) -> None:
                progress.update(task, completed=done)

            report = await import_file(cohort, path, parser, on_progress=advance)
            progress.remove_task(task)
            reports.append(report)
    return reports


def _run_import(
    ctx: typer.Context, paths: list[Path], make_parser: ParserFactory, as_json: bool
) -> None:
    config = runtime.settings(ctx)

    async def go() -> list[ImportReport]:
        async with runtime.opened(config) as cohort:
            parser = await make_parser(cohort)
            return await import_paths(cohort, paths, parser, show_progress=not as_json)

    reports = runtime.run(go())
    if as_json:
        runtime.print_json([report.as_dict() for report in reports])
    else:
        for report in reports:
            runtime.out.print(_summary(report), markup=False)


@app.command("discord-export")
def discord_export(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="DiscordChatExporter JSON files.")],
    as_json: JsonOption = False,
) -> None:
    """Import DiscordChatExporter JSON exports (one channel or thread per file)."""

    async def make(_: Cohort) -> Parser:
        from bot.importers.discord_export import parse_discord_export

        return parse_discord_export

    _run_import(ctx, files, make, as_json)


@app.command("telegram-export")
def telegram_export(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Telegram Desktop result.json (chat or account).")],
    as_json: JsonOption = False,
) -> None:
    """Import a Telegram Desktop export: one chat, or every group of a full-account export."""

    async def make(_: Cohort) -> Parser:
        from bot.importers.telegram_export import parse_telegram_export

        return parse_telegram_export

    _run_import(ctx, [file], make, as_json)


@app.command("events")
def events(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Cohort JSONL events (docs/events.md).")],
    as_json: JsonOption = False,
) -> None:
    """Import Cohort's own JSONL event format (see docs/events.md)."""

    async def make(cohort: Cohort) -> Parser:
        from bot.importers.events_jsonl import events_parser
        from bot.store.courses import course_ids

        async with cohort.store.read() as conn:
            known = await course_ids(conn)
        return events_parser(known)

    _run_import(ctx, [file], make, as_json)


@app.command("purchases")
def purchases(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV: member,course,ts[,amount,currency][,order].")],
    source: Annotated[
        str, typer.Option(help="Where the purchases come from (part of the dedupe key).")
    ] = "import",
    as_json: JsonOption = False,
) -> None:
    """Import purchases exported by a course platform; `member` is platform:id."""

    async def make(cohort: Cohort) -> Parser:
        from bot.importers.purchases import purchases_parser
        from bot.store.courses import course_ids

        async with cohort.store.read() as conn:
            known = await course_ids(conn)
        return purchases_parser(known, source)

    _run_import(ctx, [file], make, as_json)
