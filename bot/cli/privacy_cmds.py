"""`cohort privacy`: a member's data export and erasure, and the retention purge."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli import runtime
from bot.cli.engage_cmds import opened_services

app = typer.Typer(
    help="Export or erase a member's data; purge old message text.", no_args_is_help=True
)

MemberArgument = Annotated[str, typer.Argument(help="platform:id, e.g. discord:1234.")]


@app.command("export")
def export(
    ctx: typer.Context,
    member: MemberArgument,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: stdout).")
    ] = None,
) -> None:
    """Everything held about a member (and linked identities), as JSON."""
    from bot.domain.refs import parse_member_ref
    from bot.errors import CohortError

    config = runtime.settings(ctx)
    try:
        ref = parse_member_ref(member)
    except CohortError as exc:
        raise runtime.fail(str(exc)) from None

    async def go() -> dict[str, Any] | None:
        async with opened_services(config) as services:
            return await services.privacy.export_data(ref)

    data = runtime.run(go())
    if data is None:
        raise runtime.fail(f"no data held about {ref}")
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    from bot.cli.files import write_atomically

    try:
        write_atomically(out, text)  # personal data: readable by the owner only
    except OSError as exc:
        raise runtime.fail(f"{out}: {exc.strerror or exc}") from None
    runtime.err.print(f"wrote {out}", markup=False)


@app.command("forget")
def forget(
    ctx: typer.Context,
    member: MemberArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Erase without asking.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Erase a member and linked identities: rows, traces, model artifacts."""
    from bot.domain.refs import parse_member_ref
    from bot.errors import CohortError

    config = runtime.settings(ctx)
    try:
        ref = parse_member_ref(member)
    except CohortError as exc:
        raise runtime.fail(str(exc)) from None
    if not yes:
        if not sys.stdin.isatty():
            raise runtime.fail("add --yes to erase")
        if not typer.confirm(f"erase everything held about {ref}? This cannot be undone"):
            raise typer.Exit(1)

    async def go() -> dict[str, Any]:
        from bot.store.members import find_member

        async with opened_services(config) as services:
            async with services.context.store.read() as conn:
                held = await find_member(conn, ref.platform, ref.id)
            if held is None:
                # Saying "erased" would suggest there was something; nothing is written.
                raise CohortError(f"Cohort holds no data about {str(ref)!r}: nothing to erase")
            report = await services.privacy.forget(ref)
            return report.to_dict()

    result = runtime.run(go())
    if as_json:
        runtime.print_json(result)
        return
    rows = result["rows"]
    runtime.out.print(
        f"erased {ref} ({result['identities']} stored identit"
        f"{'y' if result['identities'] == 1 else 'ies'}): {rows['messages']} messages and "
        f"{rows['reactions']} reactions folded into anonymous counts, "
        f"{rows['anonymized_interactions']} interactions anonymized, "
        f"{rows['deliveries']} deliveries deleted, {len(result['model_versions'])} model "
        "versions rewritten",
        markup=False,
    )
    if result["wal_checkpointed"] is False:
        runtime.err.print(
            "note: a reader kept part of the SQLite log; it is checkpointed automatically",
            markup=False,
        )


@app.command("purge")
def purge(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    r"""Purge message text older than \[privacy] retention_days now (also scheduled)."""
    from dataclasses import asdict

    config = runtime.settings(ctx)

    async def go() -> dict[str, int]:
        async with opened_services(config) as services:
            return asdict(await services.privacy.purge())

    result = runtime.run(go())
    if as_json:
        runtime.print_json(result)
        return
    runtime.out.print(
        f"purged {result['texts']} message texts older than {config.privacy.retention_days} "
        f"days, {result['deliveries']} delivery texts, {result['link_codes']} expired link codes",
        markup=False,
    )
