"""`cohort replay`: feed a JSONL event file through the live pipeline at N events/s."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import runtime

if TYPE_CHECKING:
    from bot.core.replay import ReplayProgress


def replay(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Cohort JSONL events (docs/events.md).")],
    rate: Annotated[
        float, typer.Option("--rate", min=0, help="Events per second; 0 = as fast as possible.")
    ] = 1000,
) -> None:
    """Replay events through the same live pipeline the bots use (load and crash tests).

    Prints how many events it has handed over every second. SIGINT/SIGTERM stop it
    gracefully: everything handed over is written before it exits.
    """
    config = runtime.settings(ctx)

    async def go() -> tuple[ReplayProgress, int, int]:
        from bot.core.replay import replay as run_replay
        from bot.importers.base import ParseStats
        from bot.importers.events_jsonl import parse_events

        stop = runtime.stop_on_signals()
        try:
            handle = file.open("rb")
        except OSError as exc:
            from bot.errors import InputFileError

            raise InputFileError(file, None, f"cannot read: {exc.strerror}") from None
        with handle:
            async with runtime.opened(config) as cohort:
                cohort.pipeline.start()
                pipeline = cohort.pipeline

                def tick(progress: ReplayProgress) -> None:
                    now = pipeline.stats()
                    runtime.out.print(
                        f"handed over {progress.handed_over:,} events ({progress.rate:,.0f}/s); "
                        f"written {now.written:,}, queue {now.queue_depth:,}, "
                        f"lag {now.lag_seconds:.2f}s",
                        markup=False,
                    )

                events = parse_events(handle, str(file), ParseStats())
                progress = await run_replay(
                    events, cohort.pipeline, rate=rate, stop=stop, on_tick=tick
                )
                await cohort.pipeline.stop()
                stats = cohort.pipeline.stats()
        return progress, stats.written, stats.dropped + stats.failed

    progress, written, lost = runtime.run(go())
    verb = "stopped after handing over" if progress.interrupted else "handed over"
    runtime.out.print(
        f"{verb} {progress.handed_over:,} events in {progress.seconds:.1f}s "
        f"({progress.rate:,.0f}/s); written {written:,}, lost {lost:,}",
        markup=False,
    )
    if lost:
        raise typer.Exit(1)
