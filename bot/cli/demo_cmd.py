"""`cohort demo`: the product at work on a synthetic community, offline, with no tokens.

1. import: a Discord server and a Telegram group written in the formats the real
   export tools produce, imported with the operator's commands;
2. train: `cohort train`;
3. what a member sees for `/recommend`, rendered by the Discord and Telegram adapters;
4. a moderator's `/promote` preview;
5. one weekly digest (written to a file by the real dispatcher);
6. simulated members clicking and buying by their hidden interests, through the real
   click redirect, buttons, purchase webhook and CSV import; then `cohort funnel`;
7. a sanity check: how often the picks found the hidden interests, against popularity;
8. `cohort report`: the HTML report of it all, in the demo folder.

Running it again on the same folder reuses the store as the user left it (`--fresh`
rebuilds it); see `bot.demo.folder`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli import runtime

if TYPE_CHECKING:
    from rich.progress import Progress

    from bot.app import Cohort
    from bot.core.commands import Commands
    from bot.core.delivery.transport import Delivery
    from bot.core.services.suite import Services
    from bot.demo.behaviour import Outcome, Seen
    from bot.demo.build import DemoCommunities, DemoFiles
    from bot.demo.folder import Manifest
    from bot.demo.sanity import HitRates
    from bot.demo.tour import Place

log = logging.getLogger(__name__)

DEFAULT_MEMBERS, DEFAULT_DAYS, DEFAULT_SEED = 250, 56, 7
STEPS = 8


def demo(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Option("--dir", help="Where to write the demo.")] = Path(
        "cohort-demo"
    ),
    members: Annotated[
        int | None,
        typer.Option(min=5, max=100_000, help="Members per community.  [default: 250]"),
    ] = None,
    days: Annotated[
        int | None, typer.Option(min=7, max=3650, help="Days of history.  [default: 56]")
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(help="Random seed (same seed, same community).  [default: 7]"),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option("--fresh", help="Delete the demo's files in --dir and build it again."),
    ] = False,
    store_only: Annotated[
        bool,
        typer.Option("--store-only", help="Only build (or reuse) and train the store: no tour."),
    ] = False,
) -> None:
    """Show Cohort at work on a generated Discord server and Telegram group (offline).

    Writes DiscordChatExporter files, a Telegram Desktop result.json, consent events,
    a purchases CSV and a course catalog into --dir, imports them with the operator's
    commands and trains; then shows /recommend, a /promote preview and a digest as
    members see them, lets simulated members click and buy by their hidden interests,
    prints the funnel, checks the picks against those interests and writes
    report.html. Run again, it reuses the store in --dir as you left it; --fresh
    rebuilds it. Offline: no token, nothing sent.
    """
    from bot.demo import folder as demo_folder
    from bot.demo.build import generate
    from bot.errors import CohortError

    say = runtime.out.print
    try:
        choice = demo_folder.choose(folder, fresh=fresh)
    except CohortError as exc:
        raise runtime.fail(str(exc)) from None
    folder = choice.folder
    folder.mkdir(parents=True, exist_ok=True)
    manifest = choice.manifest or _new_manifest(members, days, seed)
    asked = {"members": members, "days": days, "seed": seed}
    ignored = [
        f"--{name} {value}"
        for name, value in asked.items()
        if value is not None and value != getattr(manifest, name)
    ]
    config_path = demo_folder.write_config(folder)
    ctx.find_root().obj = runtime.CliState(config=config_path)

    say(f"[bold]Cohort demo[/] in {folder}/ ({manifest.members} members per community)")
    say(f"  {choice.note}", markup=False)
    if ignored:
        say(
            f"  ignored {', '.join(ignored)}: the store here was built with --members "
            f"{manifest.members} --days {manifest.days} --seed {manifest.seed} "
            "(--fresh rebuilds it)",
            markup=False,
        )
    communities = generate(manifest)

    _heading(1, "Import: the export tools' files, through the operator's commands")
    if choice.manifest is None:
        _import(folder, manifest, communities)
    else:
        say("  skipped: the store is already imported", markup=False)
    from bot.cli.stats_cmd import stats

    stats(ctx, as_json=False)

    _heading(2, "Train: cohort train (profiles, segments, influence, the course ranker)")
    from bot.cli.recsys_cmds import train

    train(ctx, as_json=False)
    if store_only:
        _hints(config_path)
        return

    config = runtime.settings(ctx)
    hit_rates = runtime.run(_tour(config, folder, manifest, communities))
    runtime.out.print("\n[bold]cohort funnel[/]")
    from bot.cli.engage_cmds import funnel

    funnel(ctx, community=None, days=None, as_json=False)

    _heading(7, "Sanity check: did the picks find the hidden interests?")
    _sanity(hit_rates)

    _heading(8, "The report: cohort report")
    _write_report(ctx, folder, manifest.days + 1)
    _hints(config_path)


def _new_manifest(members: int | None, days: int | None, seed: int | None) -> Manifest:
    from bot.demo.folder import Manifest

    span = days or DEFAULT_DAYS
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return Manifest(
        seed=DEFAULT_SEED if seed is None else seed,
        members=members or DEFAULT_MEMBERS,
        days=span,
        start=(today - timedelta(days=span)).isoformat(),
    )


def _heading(step: int, text: str) -> None:
    from rich.rule import Rule

    runtime.out.print()
    runtime.out.print(Rule(f"[bold]{step}/{STEPS}[/]  {text}", align="left", style="cyan"))


# -- 1. import ------------------------------------------------------------------------


def _import(folder: Path, manifest: Manifest, communities: DemoCommunities) -> None:
    """Write the files, import them as an operator would, then record the manifest."""
    from bot.demo.build import write_files

    say = runtime.out.print
    files = write_files(folder, communities)
    messages = sum(len(c.messages) for c in communities.both)
    purchases = sum(len(c.purchases) for c in communities.both)
    say(
        f"  generated {messages:,} messages from {2 * manifest.members:,} members, "
        f"{files.consent_decisions:,} consent decisions and {purchases:,} past purchases",
        markup=False,
    )
    from bot.config import load_settings

    runtime.run(_import_files(load_settings(folder / "config.toml"), files))
    manifest.save(folder)


async def _import_files(config: Any, files: DemoFiles) -> None:
    from bot.cli.import_cmds import import_paths
    from bot.importers.courses import read_catalog
    from bot.importers.discord_export import parse_discord_export
    from bot.importers.events_jsonl import parse_events
    from bot.importers.purchases import purchases_parser
    from bot.importers.telegram_export import parse_telegram_export
    from bot.store.courses import course_ids, upsert_courses

    say = runtime.out.print
    async with runtime.opened(config) as cohort:
        async with cohort.store.write() as conn:
            added = await upsert_courses(conn, [r.row() for r in read_catalog(files.catalog)])
        say(f"  cohort courses import {files.catalog.name}: {added.added} courses", markup=False)
        steps = [
            ("cohort import events", [files.consents], parse_events),
            ("cohort import discord-export", files.discord, parse_discord_export),
            ("cohort import telegram-export", [files.telegram], parse_telegram_export),
        ]
        for label, paths, parser in steps:
            reports = await import_paths(cohort, paths, parser)
            total = sum(r.events for r in reports)
            stored = sum(r.written.messages for r in reports)
            anonymous = sum(r.written.anonymous_messages for r in reports)
            detail = (
                f" ({stored:,} messages stored, {anonymous:,} counted anonymously)"
                if stored or anonymous
                else ""
            )
            say(f"  {label}: {len(paths)} file(s), {total:,} events{detail}", markup=False)
        async with cohort.store.read() as conn:
            known = await course_ids(conn)
        reports = await import_paths(cohort, [files.purchases], purchases_parser(known))
        say(
            f"  cohort import purchases: {reports[0].events} purchases "
            f"({reports[0].written.interactions} new)",
            markup=False,
        )


# -- 3-6. the tour --------------------------------------------------------------------


async def _tour(
    config: Any, folder: Path, manifest: Manifest, communities: DemoCommunities
) -> HitRates | None:
    """Members and moderators at work, on one Cohort with its pipeline running."""
    from bot.core.commands import Commands
    from bot.core.services.suite import Services
    from bot.demo import tour
    from bot.store.courses import course_rows

    async with runtime.opened(config) as cohort:
        cohort.pipeline.start()
        services = Services.build(cohort)
        commands = Commands(services)
        places = await tour.places(services, communities.both)
        hit_rates = await _hit_rates(services, communities)

        _heading(3, "What a member sees: /recommend")
        holdout = config.recommend.holdout
        for place in places:
            member = await tour.showcase_member(services, place, holdout)
            if member is None:
                runtime.out.print(f"  {place.info.ref}: no consenting member to show")
                continue
            reply = await tour.recommend_for(commands, place, member)
            _show(place, reply, f"/recommend by {member.name}")

        _heading(4, "What a moderator sees: /promote (a preview; nothing is sent)")
        for place in places:
            course = tour.course_to_promote(place, cohort.gate)
            reply = await tour.promote_preview(commands, place, course)
            _show(place, reply, f"/promote {course} {tour.PROMOTE_AUDIENCE}")

        _heading(5, "The weekly digest")
        inbox = tour.Inbox(_file_transport(tour.digest_file(folder)))
        try:
            for place in places:
                with _spinner(f"  {place.community.name}: picks for every personal digest"):
                    done = await tour.digest(services, place, inbox)
                if done is None:
                    runtime.out.print(f"  {place.info.ref}: no digest period yet", markup=False)
                    continue
                if place.community.platform == "discord":
                    _show(place, done.post, "the digest post in the channel")
                runtime.out.print(
                    f"  {place.info.ref}: {done.written} deliveries (the channel post and "
                    f"{done.personal} personal digests) written to {tour.digest_file(folder)}"
                    if done.claimed
                    else f"  {place.info.ref}: this week's digest was already sent (once per "
                    "period): nothing new written",
                    markup=False,
                )
        finally:
            inbox.close()

        _heading(6, "Members click and buy, by their hidden interests")
        async with services.context.store.read() as conn:
            titles = {row["title"]: row["id"] for row in await course_rows(conn)}
        seen = await _everyone_asks(commands, places, titles)
        seen += _digest_readers(places, inbox.received, titles)
        await _act(cohort, services, commands, folder, manifest, seen)
    return hit_rates


def _spinner(text: str) -> Progress:
    """A transient spinner with the elapsed time, on stderr."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(), TextColumn(text), TimeElapsedColumn(), console=runtime.err, transient=True
    )
    progress.add_task(text, total=None)
    return progress


def _file_transport(path: Path) -> Any:
    from bot.core.delivery.transport import FileTransport

    return FileTransport(path)


def _show(place: Place, reply: Any, title: str) -> None:
    from bot.demo.render import discord_view, telegram_view

    view = discord_view if place.community.platform == "discord" else telegram_view
    runtime.out.print(view(reply, f"{title} in {place.community.name}"))


async def _hit_rates(services: Services, communities: DemoCommunities) -> HitRates | None:
    """HR@k of the trained model and of popularity, before anyone clicks."""
    from bot.demo import sanity
    from bot.store.courses import course_rows
    from bot.store.interactions import purchase_counts

    model = await services.context.models.current()
    if model is None:
        return None
    async with services.context.store.read() as conn:
        people = await sanity.candidates(conn, model, communities.members())
        popularity = await purchase_counts(conn)
        courses = [row["id"] for row in await course_rows(conn)]
    day = services.context.clock().date().isoformat()
    return sanity.hit_rates(model, people, popularity, courses, day=day)


async def _everyone_asks(
    commands: Commands, places: list[Place], titles: dict[str, str]
) -> list[Seen]:
    """Every consenting member still in the community asks /recommend (a progress bar)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.demo import behaviour, tour

    gate = commands.services.context.cohort.gate
    askers = [
        (place, member)
        for place in places
        for member in tour.consenting(place, gate)
        if member.left is None
    ]
    seen: list[Seen] = []
    with Progress(
        TextColumn("  members asking /recommend"),
        BarColumn(),
        MofNCompleteColumn(),
        console=runtime.err,
        transient=True,
    ) as progress:
        task = progress.add_task("recommend", total=len(askers))
        for place, member in askers:
            reply = await tour.recommend_for(commands, place, member)
            picks = behaviour.picks_in(reply, titles)
            seen.append(behaviour.Seen(member, tour.actor_for(place, member), picks))
            progress.advance(task)
    runtime.out.print(f"  {len(askers):,} consenting members asked /recommend", markup=False)
    return seen


def _digest_readers(
    places: list[Place], received: list[Delivery], titles: dict[str, str]
) -> list[Seen]:
    """The personal digests as their recipients read them."""
    from bot.demo import behaviour, tour

    by_member = {
        (place.community.platform, member.id): (place, member)
        for place in places
        for member in place.community.members
    }
    seen = []
    for delivery in received:
        found = by_member.get((delivery.platform, delivery.recipient))
        if delivery.kind != "dm" or found is None:
            continue
        place, member = found
        picks = behaviour.picks_in(delivery.reply, titles)
        seen.append(behaviour.Seen(member, tour.actor_for(place, member), picks))
    return seen


async def _act(
    cohort: Cohort,
    services: Services,
    commands: Commands,
    folder: Path,
    manifest: Manifest,
    seen: list[Seen],
) -> Outcome:
    """Members act on their picks through Cohort's web app, buttons, webhook and CSV import."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.cli.import_cmds import import_paths
    from bot.demo import behaviour
    from bot.demo.shop import local_web
    from bot.importers.purchases import purchases_parser
    from bot.store.courses import course_ids

    async with local_web(cohort) as web:
        with Progress(
            TextColumn("  members reading their picks"),
            BarColumn(),
            MofNCompleteColumn(),
            console=runtime.err,
            transient=True,
        ) as progress:
            task = progress.add_task("act", total=len(seen))
            outcome = await behaviour.act(
                seen,
                commands,
                behaviour.Shopper(manifest.seed),
                click=web.click,
                buy=web.buy,
                buy_later=web.buy_later,
                tick=lambda: progress.advance(task),
            )
        rows = web.csv_rows
    await cohort.pipeline.flush()
    _outcome(outcome)
    rows += outcome.csv_purchases
    orders = behaviour.write_orders(folder / "shop-orders.csv", rows)
    async with cohort.store.read() as conn:
        known = await course_ids(conn)
    reports = await import_paths(cohort, [orders], purchases_parser(known))
    attributed = await services.attribution.run()
    runtime.out.print(
        f"  cohort import purchases {orders.name}: {reports[0].events} purchases made "
        f"without a click; attribution: {attributed.by_token} by the link's token, "
        f"{attributed.last_touch} by the last pick shown, {attributed.organic} organic",
        markup=False,
    )
    return outcome


def _outcome(outcome: Outcome) -> None:
    runtime.out.print(
        f"  {outcome.members:,} members saw {outcome.picks:,} picks: {outcome.clicks:,} opened "
        f"'Learn more' (GET /r/<token>), {outcome.interested:,} pressed 'Interested', "
        f"{outcome.dismissed:,} 'Not for me'; {outcome.webhook_purchases:,} bought through "
        f"the shop's webhook after a click, {len(outcome.csv_purchases):,} without one",
        markup=False,
    )


# -- 7. sanity --------------------------------------------------------------------------


def _sanity(rates: HitRates | None) -> None:
    from rich.table import Table

    say = runtime.out.print
    if rates is None or not rates.members:
        say("  no trained model or no member to check", markup=False)
        return
    table = Table("", *(f"HR@{k}" for k in rates.personal), title="picks on a hidden interest")
    table.add_row("personal picks", *(f"{v:.0%}" for v in rates.personal.values()))
    table.add_row("popularity", *(f"{v:.0%}" for v in rates.popularity.values()))
    say(table)
    k = max(rates.personal)
    say(
        f"Sanity check: for {rates.personal[k]:.0%} of {rates.members:,} members the top "
        f"{k} personal picks held a course on one of their hidden interests, against "
        f"{rates.popularity[k]:.0%} for the most popular courses (HR@{k}; Cohort never "
        "saw the interests, only what members said, reacted to and bought).",
        markup=False,
    )


# -- the end ----------------------------------------------------------------------------


def _write_report(ctx: typer.Context, folder: Path, days: int) -> None:
    """Write `report.html` in the demo folder through `cohort report`, and say where."""
    from bot.cli.report_cmd import report

    out = folder / "report.html"
    try:
        report(ctx, out=out, locale=None, days=days, community=None)
    except typer.Exit as stopped:  # the report's own one-line error is already printed
        if stopped.exit_code:
            runtime.out.print("  the report could not be written", markup=False)
        return
    runtime.out.print(f"  open {out.resolve()} in a browser (it works offline)", markup=False)


def _hints(config_path: Path) -> None:
    runtime.out.print(
        "\nThe same store answers any command, e.g.\n"
        f"  cohort --config {config_path} stats\n"
        f"  cohort --config {config_path} recommend --all --format jsonl\n"
        f"  cohort --config {config_path} funnel\n"
        f"  cohort --config {config_path} web    (serves the demo's 'Learn more' links)\n"
        "Run the demo again to reuse this store as you leave it; --fresh rebuilds it.",
        markup=False,
    )
