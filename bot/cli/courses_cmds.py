"""`cohort courses`: import and list the catalog."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import runtime

if TYPE_CHECKING:
    from bot.store.courses import Course, UpsertResult

app = typer.Typer(help="The course catalog.", no_args_is_help=True)


@app.command("import")
def import_courses(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Catalog as .csv, .json or .toml.")],
) -> None:
    """Add or update courses from a file; the whole file is validated before writing."""
    config = runtime.settings(ctx)

    async def go() -> UpsertResult:
        from bot.importers.courses import read_catalog
        from bot.store.courses import upsert_courses

        records = read_catalog(file)
        async with runtime.opened(config) as cohort, cohort.store.write() as conn:
            return await upsert_courses(conn, [record.row() for record in records])

    result = runtime.run(go())
    runtime.out.print(
        f"courses from {file}: {result.added} added, {result.updated} updated, "
        f"{result.unchanged} unchanged",
        markup=False,
    )


@app.command("list")
def list_courses(
    ctx: typer.Context,
    include_inactive: Annotated[
        bool, typer.Option("--all", help="Include inactive courses.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the catalog."""
    config = runtime.settings(ctx)

    async def go() -> list[Course]:
        from bot.store.courses import list_courses as query

        async with runtime.opened(config) as cohort, cohort.store.read() as conn:
            return await query(conn, include_inactive=include_inactive)

    courses = runtime.run(go())
    if as_json:
        runtime.print_json([course.as_dict() for course in courses])
        return
    if not courses:
        runtime.out.print("no courses yet: `cohort courses import FILE`", markup=False)
        return
    from bot.cli.tables import add_row
    from bot.cli.tables import table as new_table

    table = new_table(
        "id",
        "title",
        "level",
        "lang",
        "price",
        "tags",
        "active",
        ids=("id",),
        numbers=("lang", "active"),
    )
    for course in courses:
        price = (
            f"{course.price} {course.currency or ''}".strip() if course.price is not None else ""
        )
        add_row(
            table,
            course.id,
            course.title,
            course.level or "",
            course.language or "",
            price,
            ", ".join(course.tags),
            "yes" if course.active else "no",
        )
    runtime.out.print(table)
