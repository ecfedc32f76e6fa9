"""Shared CLI plumbing: global options, running coroutines, one-line errors, output.

Nothing here imports SQLAlchemy, TensorFlow or the platform libraries at module
level, so `cohort --help` stays fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from bot.app import Cohort
    from bot.config import Settings

T = TypeVar("T")

# No emoji codes: "telegram:abc: nothing to erase" must not become "telegram🔤 ...".
out = Console(highlight=False, emoji=False)
err = Console(stderr=True, highlight=False, emoji=False)
log = logging.getLogger(__name__)


@dataclass(slots=True)
class CliState:
    """Global options given before the command."""

    config: Path | None = None
    verbose: int = 0


def state(ctx: typer.Context) -> CliState:
    """The global options of this invocation."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def one_line(text: str) -> str:
    """`text` with control characters, line breaks and lone surrogates escaped, Python-style.

    Error messages quote what the operator typed or a file held; whatever that was,
    the message stays one printable line.
    """
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in text
    )


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `error: message` on stderr as one line and return the exit to raise."""
    err.print(f"error: {one_line(message)}", markup=False, soft_wrap=True)
    return typer.Exit(code)


def settings(ctx: typer.Context) -> Settings:
    """Load the settings named by `--config` (or the defaults); exit 1 on a bad config."""
    from bot.config import load_settings
    from bot.errors import ConfigError

    try:
        return load_settings(state(ctx).config)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def configure_service_logging(ctx: typer.Context, config: Settings) -> None:
    """Logging for a long-running command: the config's level, DEBUG with -vv."""
    from bot.logging_setup import configure_logging

    configure_logging("DEBUG" if state(ctx).verbose > 1 else config.logging.level)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT or SIGTERM (call inside the running loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine`; a `CohortError` becomes a one-line message and exit code 1."""
    from bot.errors import CohortError

    try:
        return asyncio.run(coroutine)
    except CohortError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        raise typer.Exit(130) from None


@asynccontextmanager
async def opened(config: Settings) -> AsyncIterator[Cohort]:
    """A built Cohort for one command, closed (and flushed) afterwards."""
    from bot.app import Cohort

    cohort = await Cohort.build(config)
    try:
        yield cohort
    finally:
        await cohort.close()


def print_json(data: Any) -> None:
    """Write `data` as indented JSON to stdout."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
