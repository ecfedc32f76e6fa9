"""`cohort promote`, `cohort digest`, `cohort funnel`: the engagement services for operators.

Deliveries are queued in the outbox; the running bot (`cohort run`) sends them.
`--transport file --out F` writes them to F instead (one JSON line each), for dry
runs, tests and exporting a campaign to an email tool.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli import runtime

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core.delivery.dispatcher import DispatchReport
    from bot.core.services.suite import Services
    from bot.store.communities import CommunityInfo


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # no digest period lies before it
MAX_DAYS = 36_500


class TransportChoice(StrEnum):
    """Where deliveries go."""

    QUEUE = "queue"
    FILE = "file"


JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
CommunityOption = Annotated[
    str | None,
    typer.Option("--community", help="platform:id of the community (default: the only one)."),
]
TransportOption = Annotated[
    TransportChoice,
    typer.Option(
        "--transport",
        help="queue: the running bot sends; file: write JSON lines to --out now.",
        case_sensitive=False,
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="The JSON-lines file for --transport file.")
]


@asynccontextmanager
async def opened_services(config: Settings) -> AsyncIterator[Services]:
    """Services over a Cohort opened for one command (claims name this process)."""
    from bot.core.delivery.owners import process_name
    from bot.core.services.suite import Services

    async with runtime.opened(config) as cohort:
        yield Services.build(cohort, instance=process_name())


async def resolve_community(services: Services, ref: str | None) -> CommunityInfo:
    """The community named `platform:id`, or the only one; a clear error otherwise."""
    from bot.errors import CohortError
    from bot.store.communities import all_communities

    async with services.context.store.read() as conn:
        communities = await all_communities(conn)
    if ref is None:
        if len(communities) == 1:
            return communities[0]
        known = ", ".join(c.ref for c in communities) or "none yet"
        raise CohortError(f"--community is required (known: {known})")
    for community in communities:
        if community.ref == ref:
            return community
    known = ", ".join(c.ref for c in communities) or "none yet"
    raise CohortError(f"unknown community {ref!r} (known: {known})")


def _check_transport(transport: TransportChoice, out: Path | None) -> None:
    if transport is TransportChoice.FILE and out is None:
        raise runtime.fail("--transport file needs --out FILE")
    if transport is TransportChoice.QUEUE and out is not None:
        raise runtime.fail("--out only applies with --transport file")


async def _write_file(
    services: Services, out: Path, *, campaign: str | None = None, run_id: int | None = None
) -> DispatchReport:
    """Drain a campaign's or run's queued deliveries into `out`."""
    from bot.core.delivery.dispatcher import Dispatcher
    from bot.core.delivery.transport import FileTransport

    transport = FileTransport(out)
    try:
        return await Dispatcher(services.context, transport).drain(
            campaign=campaign, run_id=run_id, deferred=True
        )
    finally:
        transport.close()


def promote(
    ctx: typer.Context,
    course: Annotated[str, typer.Argument(help='Course id, or "status" for recent outcomes.')],
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience", help="channel:<id>, segment:<id|name|rule>, top:<N> or opted-in."
        ),
    ] = None,
    community: CommunityOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only preview: audience, blocked, clicks.")
    ] = False,
    transport: TransportOption = TransportChoice.QUEUE,
    out: OutOption = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Send without asking.")] = False,
    as_json: JsonOption = False,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="With status: only this campaign.")
    ] = None,
) -> None:
    """Promote a course to an audience (DMs only to members who opted in).

    `cohort promote status` instead shows what became of recent promotions: sent,
    unreachable, cancelled, failed (with the error) and still pending.
    """
    config = runtime.settings(ctx)
    if course.strip().casefold() == "status":
        promote_status(config, community, campaign, as_json)
        return
    if audience is None:
        raise runtime.fail(
            "--audience is required (channel:<id>, segment:<name>, top:<N> or opted-in)"
        )
    _check_transport(transport, out)
    if not dry_run and not yes and not sys.stdin.isatty():
        raise runtime.fail("add --yes to send (or --dry-run to preview)")

    async def go() -> dict[str, Any]:
        from bot.core.services.promote import Audience

        async with opened_services(config) as services:
            place = await resolve_community(services, community)
            plan = await services.promote.plan(place, course, Audience.parse(audience))
            result: dict[str, Any] = {"plan": plan.as_dict(), "sent": False}
            if dry_run:
                return result
            if not yes and not typer.confirm(
                f"send {plan.course['id']} to {plan.counts()['audience']} "
                f"({audience}) in {place.ref}?"
            ):
                return result
            await services.promote.send(plan)
            async with services.context.store.read() as conn:
                from bot.store import outbox

                result["queued"] = sum((await outbox.counts(conn, campaign=plan.campaign)).values())
            result["sent"] = True
            if transport is TransportChoice.FILE:
                assert out is not None
                report = await _write_file(services, out, campaign=plan.campaign)
                result["written"] = report.sent
                result["file"] = str(out)
            return result

    result = runtime.run(go())
    if as_json:
        runtime.print_json(result)
        return
    plan = result["plan"]
    say = runtime.out.print
    say(f"{plan['course']} → {plan['audience']} in {plan['community']}", markup=False)
    say(f"  audience: {plan['audience_size']} members", markup=False)
    say(
        f"  {plan['deliverable']} deliverable now, {plan['deferred']} after quiet hours; "
        + "blocked: "
        + ", ".join(
            f"{key.removeprefix('blocked_').replace('_', ' ')} {n}"
            for key, n in plan.items()
            if key.startswith("blocked_")
        ),
        markup=False,
    )
    say(f"  about {plan['predicted_clicks']} clicks expected", markup=False)
    if not result["sent"]:
        say("  nothing sent" + (" (dry run)" if dry_run else ""), markup=False)
    elif "written" in result:
        say(f"  {result['written']} deliveries written to {result['file']}", markup=False)
    else:
        say(
            f"  {result['queued']} deliveries queued: the running bot (cohort run) sends them",
            markup=False,
        )


def promote_status(
    config: Settings, community: str | None, campaign: str | None, as_json: bool
) -> None:
    """Print the outcome of the community's recent promotions (or of one campaign)."""

    async def go() -> list[dict[str, Any]]:
        async with opened_services(config) as services:
            place = await resolve_community(services, community)
            statuses = await services.promote.reports.recent(place, campaign)
            return [status.as_dict() for status in statuses]

    result = runtime.run(go())
    if as_json:
        runtime.print_json(result)
        return
    if not result:
        raise runtime.fail("no promotion sent" + (f" as campaign {campaign}" if campaign else ""))
    for item in result:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(item["statuses"].items()))
        state = "finished" if item["finished"] else "in progress"
        line = f"{item['campaign']}  {item['course']} → {item['audience']}: {counts} ({state})"
        if item["error"]:
            line += f"; last error: {item['error']}"
        runtime.out.print(line, markup=False, soft_wrap=True)


digest_app = typer.Typer(help="Weekly digests: schedule, run now.", no_args_is_help=True)


@digest_app.command("run")
def digest_run(
    ctx: typer.Context,
    community: CommunityOption = None,
    transport: TransportOption = TransportChoice.QUEUE,
    out: OutOption = None,
    period: Annotated[
        str | None,
        typer.Option("--period", help="ISO time of the period (default: the latest due)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Build the community's digest for the latest period now (once per period)."""
    config = runtime.settings(ctx)
    _check_transport(transport, out)

    async def go() -> dict[str, Any]:
        from dataclasses import asdict

        from bot.errors import CohortError

        async with opened_services(config) as services:
            place = await resolve_community(services, community)
            now = services.context.clock()
            if period is None:
                chosen = services.digest.period(place, now)
                if chosen is None:
                    raise CohortError(f"no digest period of {place.ref} in the last 35 days")
            else:
                try:
                    chosen = datetime.fromisoformat(period)
                except ValueError:
                    raise CohortError(f"--period {period!r}: not an ISO date-time") from None
                chosen = chosen if chosen.tzinfo else chosen.replace(tzinfo=UTC)
                if not EPOCH <= chosen <= now:
                    raise CohortError(
                        f"--period {period!r}: must lie between 1970 and now (a past period)"
                    )
            report = await services.digest.run(place, chosen)
            result: dict[str, Any] = asdict(report)
            result["digest_channel"] = place.digest_channel
            if transport is TransportChoice.FILE and report.run_id is not None:
                # Also when the run was built before: write what an interrupted run left.
                from bot.store import outbox

                assert out is not None
                written = await _write_file(services, out, run_id=report.run_id)
                result["written"], result["file"] = written.sent, str(out)
                result["uncertain"] = written.uncertain
                async with services.context.store.read() as conn:
                    left = await outbox.counts(conn, run_id=report.run_id)
                result["unwritten"] = left.get(outbox.PENDING, 0) + left.get(outbox.SENDING, 0)
            return result

    result = runtime.run(go())
    if as_json:
        runtime.print_json(result)
        return
    say = runtime.out.print
    name = f"digest {result['period']} of {result['community']}"
    if not result["claimed"]:
        if result.get("written") or result.get("unwritten"):
            line = f"{name}: resumed, {result['written']} deliveries written to {result['file']}"
            if result["unwritten"]:
                line += f" ({result['unwritten']} not yet: run again)"
            say(line, markup=False)
        elif not result["done"]:
            say(f"{name} is being built by another process: run again later", markup=False)
        else:
            say(f"{name} was already done", markup=False)
        return
    say(
        f"digest {result['period']} of {result['community']}: channel post "
        f"{'yes' if result['channel_post'] else 'no'}, {result['personal']} personal "
        f"({result['deferred']} after quiet hours)",
        markup=False,
    )
    if result["digest_channel"] is None:
        say(
            "  no digest channel set: `cohort digest schedule --channel ID` adds the channel post",
            markup=False,
        )
    if result["skipped"]:
        say(f"  skipped: {result['skipped']}", markup=False)
    if "written" in result:
        say(f"  {result['written']} deliveries written to {result['file']}", markup=False)
        if result["unwritten"]:
            say(f"  {result['unwritten']} not yet written: run again", markup=False)


@digest_app.command("schedule")
def digest_schedule(
    ctx: typer.Context,
    community: CommunityOption = None,
    cron: Annotated[
        str | None,
        typer.Option("--cron", help="Cron in the community's timezone, e.g. '0 9 * * MON'."),
    ] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", help="Channel id for the digest post.")
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="IANA timezone of the community.")
    ] = None,
    locale: Annotated[
        str | None, typer.Option("--locale", help="Community language: en or zh_Hans.")
    ] = None,
) -> None:
    """Set a community's digest schedule, channel, timezone or language."""
    config = runtime.settings(ctx)

    async def go() -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from apscheduler.triggers.cron import CronTrigger

        from bot.domain.events import MAX_ID
        from bot.errors import CohortError
        from bot.i18n import SUPPORTED_LOCALES, normalize_locale
        from bot.store.communities import community_by_id, update_community

        changes: dict[str, str] = {}
        for option, value, longest in (
            ("--channel", channel, MAX_ID),
            ("--timezone", timezone, 64),
            ("--locale", locale, 16),
        ):
            if value is not None and not 0 < len(value) <= longest:
                raise CohortError(f"{option}: must be 1 to {longest} characters (got {len(value)})")
            if value is not None and any(ord(char) < 32 for char in value):
                raise CohortError(f"{option} {value!r}: contains control characters")
        if cron is not None:
            try:
                CronTrigger.from_crontab(cron)
            except ValueError as exc:
                raise CohortError(f"--cron {cron!r}: {exc}") from None
            changes["digest_cron"] = cron
        if channel is not None:
            changes["digest_channel"] = channel
        if timezone is not None:
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                raise CohortError(f"--timezone {timezone!r}: unknown timezone") from None
            changes["timezone"] = timezone
        if locale is not None:
            changes["locale"] = normalize_locale(locale)
            # An unsupported language falls back to the default: whichever default.
            if normalize_locale(locale, "zh_Hans") != changes["locale"]:
                raise CohortError(
                    f"--locale {locale!r}: not a supported language "
                    f"({' or '.join(SUPPORTED_LOCALES)})"
                )
        async with opened_services(config) as services:
            place = await resolve_community(services, community)
            if changes:
                async with services.context.store.write() as conn:
                    await update_community(conn, place.id, changes)
                async with services.context.store.read() as conn:
                    updated = await community_by_id(conn, place.id)
                assert updated is not None
                place = updated
            fire = services.digest.next_fire(place, services.context.clock())
        return (
            f"{place.ref}: cron {place.digest_cron or config.digest.cron!r} "
            f"({place.timezone}), channel {place.digest_channel or 'none (personal only)'}, "
            f"next {fire.isoformat() if fire else 'never'}"
        )

    runtime.out.print(runtime.run(go()), markup=False)


def funnel(
    ctx: typer.Context,
    community: Annotated[
        str | None, typer.Option("--community", help="platform:id (default: all).")
    ] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Only the last N days (default: all).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Impressions → clicks → purchases per variant, 95 % intervals, and the holdout lift."""
    config = runtime.settings(ctx)
    if days is not None and days > MAX_DAYS:
        raise runtime.fail(f"--days {days}: at most {MAX_DAYS} (100 years)")

    async def go() -> dict[str, Any]:
        async with opened_services(config) as services:
            since = services.context.clock() - timedelta(days=days) if days else None
            report = await services.funnel.report(since, community)
            return report.to_dict()

    data = runtime.run(go())
    if as_json:
        runtime.print_json(data)
        return
    from bot.cli.tables import add_row
    from bot.cli.tables import table as new_table

    table = new_table(
        "variant",
        "impressions",
        "clicked",
        "purchases",
        "members",
        "converted",
        ids=("variant",),
        right=("impressions", "clicked", "purchases", "members", "converted"),
        title="Funnel" + (f" ({community})" if community else ""),
    )
    for row in data["variants"]:
        add_row(
            table,
            row["variant"],
            f"{row['impressions']:,}",
            f"{row['clicked']:,} {_rate(row['click_rate'])}",
            f"{row['purchases']:,} {_rate(row['purchase_rate'])}",
            f"{row['exposed_members']:,}",
            f"{row['converted_members']:,} {_rate(row['member_conversion'])}",
        )
    runtime.out.print(table)
    for lift in data["lifts"]:
        difference, ratio = lift["difference"], lift["ratio"]
        line = f"lift {lift['name']} ({lift['treatment']} vs {lift['control']}): "
        if difference is None:
            line += lift["note"]
        else:
            line += (
                f"conversion {difference['estimate'] * 100:+.2f} pts "
                f"[{difference['low'] * 100:+.2f}, {difference['high'] * 100:+.2f}]"
            )
            if ratio is not None:
                line += f", ×{ratio['estimate']:.2f} [{ratio['low']:.2f}, {ratio['high']:.2f}]"
            elif lift["note"]:
                line += f" ({lift['note']})"
        runtime.out.print(line, markup=False)
    if not data["variants"]:
        runtime.out.print("no picks shown yet", markup=False)


def _rate(interval: dict[str, float] | None) -> str:
    if interval is None:
        return ""
    return (
        f"({interval['estimate'] * 100:.1f}% "
        f"[{interval['low'] * 100:.1f}–{interval['high'] * 100:.1f}])"
    )
