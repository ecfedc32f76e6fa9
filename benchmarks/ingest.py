"""Ingestion benchmark: the live pipeline vs raw executemany, and ingest() latency.

In ONE run (so ratios are comparable on a noisy machine) it measures:

1. raw `sqlite3.executemany` of the message rows into the migrated schema, committing
   every `batch` rows (the same durability the pipeline gives) and in one transaction;
2. the live pipeline (`IngestPipeline.submit`, the adapters' path plus backpressure)
   writing the same messages, as events, into SQLite and into PostgreSQL;
3. how long `ingest()` takes to return (p50/p99/max) while the writer is busy.

Usage:
    .venv/bin/python benchmarks/ingest.py [--events 200000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import Cohort  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.demo.synthetic import ANSWERS_EN, INTERESTS, QUESTIONS_EN  # noqa: E402
from bot.domain.events import ConsentChanged, Event, MessagePosted  # noqa: E402
from bot.store.engine import SQLITE_PRAGMAS  # noqa: E402

PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
START = datetime(2024, 5, 1, tzinfo=UTC)


@dataclass
class Result:
    """One measured path."""

    name: str
    rows: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def make_events(count: int, members: int, seed: int = 1) -> tuple[list[Event], list[MessagePosted]]:
    """Consents for every member, then `count` messages spread over channels and time."""
    rng = random.Random(seed)
    consents: list[Event] = [
        ConsentChanged(
            platform="discord",
            community="g1",
            member=f"u{m}",
            member_name=f"member {m}",
            profiling=True,
            ts=START - timedelta(days=1),
        )
        for m in range(members)
    ]
    terms = [t for interest in INTERESTS.values() for t in interest.terms]
    templates = QUESTIONS_EN + ANSWERS_EN
    messages: list[MessagePosted] = []
    for i in range(count):
        a, b = rng.sample(terms, 2)
        messages.append(
            MessagePosted(
                platform="discord",
                community="g1",
                channel=f"c{rng.randrange(12)}",
                message=str(10**17 + i),
                member=f"u{rng.randrange(members)}",
                text=rng.choice(templates).format(a=a, b=b),
                reply_to=str(10**17 + rng.randrange(i)) if i and rng.random() < 0.3 else None,
                ts=START + timedelta(seconds=i * 2),
            )
        )
    return consents, messages


async def build(url: str, schema: str | None) -> Cohort:
    settings = load_settings(None, database={"url": url})
    return await Cohort.build(settings, schema=schema)


async def pipeline_run(
    url: str, schema: str | None, consents: list[Event], messages: list[MessagePosted]
) -> Result:
    cohort = await build(url, schema)
    try:
        pipeline = cohort.pipeline
        pipeline.start()
        for event in consents:
            await pipeline.submit(event)
        await pipeline.flush()
        started = time.perf_counter()
        for event in messages:
            await pipeline.submit(event)
        await pipeline.flush()
        seconds = time.perf_counter() - started
        stats = pipeline.stats()
        assert stats.failed == 0 and stats.dropped == 0, stats
        assert pipeline.totals.messages == len(messages), pipeline.totals
    finally:
        await cohort.close()
    return Result("pipeline", len(messages), seconds)


async def latency_run(
    url: str, consents: list[Event], messages: list[MessagePosted], rate: float
) -> tuple[list[int], int]:
    """ingest() return times (ns) at `rate` events/s offered in bursts, and events dropped."""
    cohort = await build(url, None)
    samples: list[int] = []
    burst = 100
    try:
        pipeline = cohort.pipeline
        pipeline.start()
        for event in consents:
            await pipeline.submit(event)
        await pipeline.flush()
        clock = time.perf_counter_ns
        started = time.perf_counter()
        for start in range(0, len(messages), burst):
            for event in messages[start : start + burst]:
                before = clock()
                pipeline.ingest(event)
                samples.append(clock() - before)
            ahead = started + (start + burst) / rate - time.perf_counter()
            await asyncio.sleep(max(0.0, ahead))  # bursts, like a gateway delivering
        await pipeline.flush()
        dropped = pipeline.stats().dropped
    finally:
        await cohort.close()
    return samples, dropped


def raw_rows(db: Path, messages: list[MessagePosted]) -> list[tuple[object, ...]]:
    """The exact message rows the pipeline writes, with ids resolved as it would."""
    conn = sqlite3.connect(db)
    channels = dict(conn.execute("select platform_id, id from channels"))
    members = dict(conn.execute("select platform_id, id from members"))
    conn.close()
    return [
        (
            channels[m.channel],
            m.message,
            members[m.member],
            m.ts.replace(tzinfo=None).isoformat(sep=" "),
            m.text,
            m.reply_to,
            m.thread,
        )
        for m in messages
    ]


def raw_executemany(db: Path, rows: list[tuple[object, ...]], batch: int | None) -> Result:
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:  # exactly the store's settings
        conn.execute(pragma)
    sql = (
        "INSERT INTO messages (channel_id, platform_id, member_id, ts, text, reply_to, thread) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel_id, platform_id) DO NOTHING"
    )
    size = batch or len(rows)
    started = time.perf_counter()
    for start in range(0, len(rows), size):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[start : start + size])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    name = f"raw executemany, commit every {batch}" if batch else "raw executemany, one transaction"
    return Result(name, len(rows), seconds)


async def prepared_sqlite(
    folder: Path, name: str, consents: list[Event], messages: list[MessagePosted]
) -> Path:
    """A migrated SQLite file holding the communities, channels and members, but no messages."""
    db = folder / name
    cohort = await build(f"sqlite+aiosqlite:///{db}", None)
    try:
        pipeline = cohort.pipeline
        pipeline.start()
        for event in consents:
            await pipeline.submit(event)
        for channel in sorted({m.channel for m in messages}):
            await pipeline.submit(
                MessagePosted(
                    platform="discord",
                    community="g1",
                    channel=channel,
                    message=f"seed-{channel}",
                    member="u0",
                    text="",
                    ts=START,
                )
            )
        await pipeline.flush()
    finally:
        await cohort.close()
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM messages")
    conn.commit()
    conn.close()
    return db


async def raw_asyncpg(
    schema: str, consents: list[Event], messages: list[MessagePosted], batch: int
) -> Result:
    """Raw asyncpg executemany of the same rows, committing every `batch` (PostgreSQL context)."""
    import asyncpg

    cohort = await build(PG_URL, schema)
    try:
        pipeline = cohort.pipeline
        pipeline.start()
        for event in consents:
            await pipeline.submit(event)
        for channel in sorted({m.channel for m in messages}):
            await pipeline.submit(
                MessagePosted(
                    platform="discord",
                    community="g1",
                    channel=channel,
                    message=f"seed-{channel}",
                    member="u0",
                    text="",
                    ts=START,
                )
            )
        await pipeline.flush()
    finally:
        await cohort.close()
    conn = await asyncpg.connect(
        PG_URL.replace("+asyncpg", ""), server_settings={"search_path": schema}
    )
    try:
        channels = dict(await conn.fetch("select platform_id, id from channels"))
        members = dict(await conn.fetch("select platform_id, id from members"))
        await conn.execute("delete from messages")
        rows = [
            (channels[m.channel], m.message, members[m.member], m.ts, m.text, m.reply_to, m.thread)
            for m in messages
        ]
        sql = (
            "INSERT INTO messages (channel_id, platform_id, member_id, ts, text, reply_to, thread) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel_id, platform_id) DO NOTHING"
        )
        started = time.perf_counter()
        for start in range(0, len(rows), batch):
            async with conn.transaction():
                await conn.executemany(sql, rows[start : start + batch])
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return Result(f"raw asyncpg executemany, commit every {batch}", len(messages), seconds)


async def pg_schema(action: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL.replace("+asyncpg", ""))
    try:
        if action == "create":
            await conn.execute(f'CREATE SCHEMA "{name}"')
        else:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
    finally:
        await conn.close()


def percentile(samples: list[int], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000.0


async def sqlite_round(
    folder: Path, number: int, consents: list[Event], messages: list[MessagePosted], batch: int
) -> tuple[Result, Result, Result]:
    """Raw executemany (every `batch`, and once) and the pipeline, on fresh files."""
    db = await prepared_sqlite(folder, f"raw-{number}.db", consents, messages)
    rows = raw_rows(db, messages)
    every = raw_executemany(db, rows, batch)
    once = raw_executemany(
        await prepared_sqlite(folder, f"once-{number}.db", consents, messages), rows, None
    )
    pipeline = await pipeline_run(
        f"sqlite+aiosqlite:///{folder / f'pipeline-{number}.db'}", None, consents, messages
    )
    pipeline.name = "pipeline -> SQLite"
    return every, once, pipeline


def remove_round(folder: Path, number: int) -> None:
    """Delete a round's database files (disk space)."""
    for path in folder.glob(f"*-{number}.db*"):
        path.unlink()


def median_result(results: list[Result]) -> Result:
    """The run with the median rate."""
    return sorted(results, key=lambda r: r.rate)[len(results) // 2]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--members", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500, help="the pipeline's batch_size")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved SQLite rounds")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    consents, messages = make_events(args.events, args.members)
    print(f"{len(messages):,} messages from {args.members:,} consenting members, 12 channels")
    rounds: list[tuple[Result, Result, Result]] = []
    results: list[Result] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for number in range(args.rounds):
            rounds.append(await sqlite_round(folder, number, consents, messages, args.batch))
            remove_round(folder, number)
        for column in range(3):
            results.append(median_result([r[column] for r in rounds]))
        if not args.skip_postgres:
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            await pg_schema("create", schema)
            try:
                results.append(await raw_asyncpg(schema, consents, messages, args.batch))
            finally:
                await pg_schema("drop", schema)
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            await pg_schema("create", schema)
            try:
                pg_result = await pipeline_run(PG_URL, schema, consents, messages)
            finally:
                await pg_schema("drop", schema)
            pg_result.name = "pipeline -> PostgreSQL"
            results.append(pg_result)
        offered = results[2].rate / 2
        samples, dropped = await latency_run(
            f"sqlite+aiosqlite:///{folder / 'latency.db'}", consents, messages, offered
        )

    baseline = results[0].rate
    print()
    print(f"SQLite rows: median of {args.rounds} interleaved rounds; PostgreSQL: one run.")
    print("| path | rows | seconds | rows/s | vs raw SQLite (commit every batch) |")
    print("|---|---:|---:|---:|---:|")
    for result in results:
        print(
            f"| {result.name} | {result.rows:,} | {result.seconds:.2f} | {result.rate:,.0f} "
            f"| {result.rate / baseline:.0%} |"
        )
    every_ratios = sorted(r[2].rate / r[0].rate for r in rounds)
    once_ratios = sorted(r[2].rate / r[1].rate for r in rounds)
    print()
    print(
        "pipeline / raw per round: "
        + ", ".join(f"{x:.0%}" for x in every_ratios)
        + f" (committing every {args.batch}); "
        + ", ".join(f"{x:.0%}" for x in once_ratios)
        + " (one transaction)"
    )
    print(
        f"ingest() return time over {len(samples):,} calls, {offered:,.0f} events/s offered "
        f"while the writer works: p50 {percentile(samples, 0.50):.2f} µs, "
        f"p99 {percentile(samples, 0.99):.2f} µs, max {max(samples) / 1000:.1f} µs, "
        f"mean {statistics.fmean(samples) / 1000:.2f} µs; dropped {dropped}"
    )
    ratio = statistics.median(every_ratios)
    single = statistics.median(once_ratios)
    p99_ms = percentile(samples, 0.99) / 1000
    print(
        f"targets: pipeline/raw on SQLite {ratio:.0%} (median) of raw committing every "
        f"{args.batch} (>= 50%: {'met' if ratio >= 0.5 else 'MISSED'}), {single:.0%} of raw "
        f"in one transaction; ingest() p99 {p99_ms:.4f} ms (< 0.5 ms: "
        f"{'met' if p99_ms < 0.5 else 'MISSED'})"
    )


if __name__ == "__main__":
    asyncio.run(main())
