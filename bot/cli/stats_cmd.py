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
        from bot.store import outbox
        from bot.store.stats import community_counts, table_counts

        async with runtime.opened(config) as cohort, cohort.store.read() as conn:
            return {
                "database": cohort.store.dialect,
                "privacy_mode": config.privacy.mode.value,
                "tables": await table_counts(conn),
                "deliveries": await outbox.counts(conn),
                "communities": await community_counts(conn),
            }

    data = runtime.run(go())
    if as_json:
        runtime.print_json(data)
        return
    from bot.cli.tables import add_row, table

    tables = table(
        "table",
        "rows",
        numbers=("rows",),
        title=f"{data['database']} · privacy {data['privacy_mode']}",
    )
    for name, rows in data["tables"].items():
        add_row(tables, name, f"{rows:,}")
    runtime.out.print(tables)
    if data["deliveries"]:
        runtime.out.print(
            "deliveries: "
            + ", ".join(f"{n:,} {status}" for status, n in sorted(data["deliveries"].items())),
            markup=False,
        )
    if data["deliveries"].get("uncertain"):
        runtime.out.print(
            f"{data['deliveries']['uncertain']:,} deliveries are uncertain: the platform did not "
            "confirm them and Cohort does not resend them (docs/reliability.md)",
            markup=False,
        )
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
    headers = [
        f"{c['name'] or c['platform_id']}\n{c['platform']}:{c['platform_id']}" for c in communities
    ]
    per_community = table("", *headers, ids=tuple(headers), title="communities")
    for key, label in metrics:
        add_row(per_community, label, *(f"{c[key]:,}" for c in communities))
    runtime.out.print(per_community)
