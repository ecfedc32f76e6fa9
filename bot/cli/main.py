"""The `cohort` command: global options and the command tree."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot import __version__
from bot.cli import (
    courses_cmds,
    db_cmds,
    engage_cmds,
    import_cmds,
    privacy_cmds,
    recsys_cmds,
    runtime,
)
from bot.cli.demo_cmd import demo
from bot.cli.export_cmd import export
from bot.cli.replay_cmd import replay
from bot.cli.report_cmd import report
from bot.cli.run_cmd import run
from bot.cli.stats_cmd import stats
from bot.cli.web_cmd import web

app = typer.Typer(
    name="cohort",
    help="Cohort: turns community activity into course recommendations, with consent.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        runtime.out.print(f"cohort {__version__}", markup=False)
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            envvar="COHORT_CONFIG",
            help="Config file (TOML). Default: ./config.toml if present.",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More logging (-vv for debug).")
    ] = 0,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Global options."""
    state = runtime.state(ctx)
    state.config = config
    state.verbose = verbose
    if ctx.invoked_subcommand not in ("run", "web"):
        from bot.logging_setup import configure_logging

        configure_logging({0: "WARNING", 1: "INFO"}.get(verbose, "DEBUG"))


app.command("run")(run)
app.command("web")(web)
app.add_typer(db_cmds.app, name="db")
app.add_typer(import_cmds.app, name="import")
app.add_typer(courses_cmds.app, name="courses")
app.command("replay")(replay)
app.command("stats")(stats)
app.command("demo")(demo)
app.command("train")(recsys_cmds.train)
app.command("recommend")(recsys_cmds.recommend)
app.command("segments")(recsys_cmds.segments)
app.command("influencers")(recsys_cmds.influencers)
app.command("evaluate")(recsys_cmds.evaluate)
app.command("promote")(engage_cmds.promote)
app.add_typer(engage_cmds.digest_app, name="digest")
app.command("funnel")(engage_cmds.funnel)
app.command("report")(report)
app.add_typer(privacy_cmds.app, name="privacy")
app.command("export")(export)


def main() -> None:
    """Console-script entry point."""
    app()
