"""`cohort demo`: an offline tour on a synthetic community, through the real importers."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from bot.cli import runtime

CONFIG = """\
# Written by `cohort demo`. Everything else keeps its default (see config.example.toml).
[database]
url = "sqlite+aiosqlite:///cohort.db"

[privacy]
mode = "opt_in"
"""


def demo(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Option("--dir", help="Where to write the demo.")] = Path(
        "cohort-demo"
    ),
    members: Annotated[int, typer.Option(min=5, max=100_000, help="Members per community.")] = 80,
    days: Annotated[int, typer.Option(min=7, max=3650, help="Days of history.")] = 56,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same community).")] = 7,
) -> None:
    """Generate a Discord and a Telegram community in their export formats and import them.

    Runs offline: writes DiscordChatExporter files, a Telegram Desktop result.json,
    consent events, a purchases CSV and a course catalog into --dir, imports them
    with the same commands an operator uses, and prints the stats.
    """
    from bot.config import load_settings
    from bot.demo import synthetic

    folder.mkdir(parents=True, exist_ok=True)
    for stale in ("cohort.db", "cohort.db-wal", "cohort.db-shm"):
        (folder / stale).unlink(missing_ok=True)
    (folder / "config.toml").write_text(CONFIG, encoding="utf-8")
    catalog = folder / "courses.toml"
    shutil.copyfile(Path(synthetic.__file__).parent / "data" / "courses.toml", catalog)

    say = runtime.out.print
    say(f"[bold]Cohort demo[/] in {folder}/ (seed {seed})")
    discord = synthetic.generate("discord", members=members, days=days, seed=seed)
    telegram = synthetic.generate("telegram", members=members, days=days, seed=seed + 1)
    consents = folder / "consents.jsonl"
    decisions = synthetic.write_jsonl(
        consents,
        iter([*synthetic.consent_events(discord), *synthetic.consent_events(telegram)]),
    )
    exports = synthetic.write_discord_exports(folder / "discord", discord)
    result_json = synthetic.write_telegram_export(folder / "result.json", telegram)
    purchases = folder / "purchases.csv"
    synthetic.write_purchases_csv(purchases, discord)
    with purchases.open("a", encoding="utf-8", newline="") as handle:
        import csv

        writer = csv.writer(handle)
        for p in telegram.purchases:
            writer.writerow(
                [f"telegram:{p.member}", p.course, p.ts.isoformat(), p.amount, p.currency, p.order]
            )
    say(
        f"generated {len(discord.messages) + len(telegram.messages):,} messages from "
        f"{2 * members} members; {decisions} consent decisions; "
        f"{len(discord.purchases) + len(telegram.purchases)} purchases"
    )

    config = load_settings(folder / "config.toml")

    async def go() -> None:
        from bot.cli.import_cmds import import_paths
        from bot.importers.courses import read_catalog
        from bot.importers.discord_export import parse_discord_export
        from bot.importers.events_jsonl import parse_events
        from bot.importers.purchases import purchases_parser
        from bot.importers.telegram_export import parse_telegram_export
        from bot.store.courses import course_ids, upsert_courses

        async with runtime.opened(config) as cohort:
            async with cohort.store.write() as conn:
                added = await upsert_courses(conn, [r.row() for r in read_catalog(catalog)])
            say(f"1/5 cohort courses import {catalog.name}: {added.added} courses")
            steps = [
                ("2/5 cohort import events", [consents], parse_events),
                ("3/5 cohort import discord-export", exports, parse_discord_export),
                ("4/5 cohort import telegram-export", [result_json], parse_telegram_export),
            ]
            for label, paths, parser in steps:
                reports = await import_paths(cohort, paths, parser)
                total = sum(r.events for r in reports)
                stored = sum(r.written.messages for r in reports)
                anonymous = sum(r.written.anonymous_messages for r in reports)
                say(
                    f"{label}: {len(paths)} file(s), {total:,} events"
                    + (
                        f" ({stored:,} messages stored, {anonymous:,} counted anonymously)"
                        if stored or anonymous
                        else ""
                    )
                )
            async with cohort.store.read() as conn:
                known = await course_ids(conn)
            reports = await import_paths(cohort, [purchases], purchases_parser(known))
            say(
                f"5/5 cohort import purchases: {reports[0].events} purchases "
                f"({reports[0].written.interactions} new)"
            )

    runtime.run(go())
    from bot.cli.recsys_cmds import recommend, segments, train
    from bot.cli.stats_cmd import stats

    ctx.find_root().obj = runtime.CliState(config=folder / "config.toml")
    stats(ctx, as_json=False)
    say("\n[bold]cohort train[/] (profiles, segments, influence, the course ranker)")
    train(ctx, as_json=False)
    member = next(m for m in discord.members if m.profiling)
    say(f"\n[bold]cohort recommend discord:{member.id}[/]")
    recommend(ctx, member=f"discord:{member.id}", k=None, all_members=False)
    say(f"\n[bold]cohort segments --community discord:{discord.id}[/]")
    segments(ctx, community=f"discord:{discord.id}", as_json=False)
    say(
        "\nThe same store answers any command, e.g.\n"
        f"  cohort --config {folder}/config.toml stats --json\n"
        f"  cohort --config {folder}/config.toml influencers --top 5\n"
        f"  cohort --config {folder}/config.toml recommend --all --format jsonl\n"
        f"  cohort --config {folder}/config.toml evaluate"
    )
