"""`cohort stats`: what the store holds."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from bot.cli import runtime


def stats(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print row counts per table and activity per community."""
    config = runtime.settings(ctx)

    async def go() -> dict[str, Any]:
        from bot.store.stats import community_counts, table_counts

        async with runtime.opened(config) as cohort, cohort.store.read() as conn:
            return {
                "database": cohort.store.dialect,
                "privacy_mode": config.privacy.mode.value,
                "tables": await table_counts(conn),
                "communities": await community_counts(conn),
            }

    data = runtime.run(go())
    if as_json:
        runtime.print_json(data)
        return
    from rich.table import Table

    tables = Table("table", "rows", title=f"{data['database']} · privacy {data['privacy_mode']}")
    for name, rows in data["tables"].items():
        tables.add_row(name, f"{rows:,}")
    runtime.out.print(tables)
    if not data["communities"]:
        runtime.out.print("no communities yet", markup=False)
        return
    metrics = [
        ("channels", "channels"),
        ("members", "members on record"),
        ("profiling_consents", "profiling consents"),
        ("dm_consents", "DM consents"),
        ("messages", "messages"),
        ("stored_messages", "  stored"),
        ("anonymous_messages", "  counted anonymously"),
        ("reactions", "reactions"),
        ("joins", "joins"),
    ]
    communities = data["communities"]
    per_community = Table(
        "",
        *(
            f"{c['name'] or c['platform_id']}\n{c['platform']}:{c['platform_id']}"
            for c in communities
        ),
        title="communities",
    )
    for key, label in metrics:
        per_community.add_row(label, *(f"{c[key]:,}" for c in communities))
    runtime.out.print(per_community)
