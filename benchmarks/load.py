"""Sustained load: `cohort replay` at a fixed rate for minutes, on SQLite and PostgreSQL.

For each backend it writes a JSONL file of consents and unique messages (docs/events.md),
starts a real `cohort replay FILE --rate R` process against a fresh store, and while it
runs samples once a second:

- the process's resident memory (`VmRSS` from `/proc/PID/status`);
- what `replay` prints each second: events handed over, rows written, the ingest
  queue's depth and its lag (age of the oldest queued event).

It reports rows written per second, queue lag p50/p99/max, and RSS over time: at the
start, after the warm-up (`--warmup`, 3 minutes by default: SQLite's page cache of
64 MiB per connection fills in about 2.5 minutes at 2,000 events/s, then stays), half
way and at the end. The goal is flat memory: end within 10 % of the post-warm-up figure.

Usage:
    .venv/bin/python benchmarks/load.py [--seconds 600] [--rate 2000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COHORT = Path(sys.executable).with_name("cohort")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
START = datetime(2024, 5, 1, tzinfo=UTC)
WORDS = (
    "asyncio rust kubernetes docker python typescript react django flask postgres "
    "sqlite tensorflow pandas numpy golang channels goroutines borrow checker lifetimes "
    "pods helm terraform ansible linux kernel compiler parser tokens graphs queues"
).split()
TICK = re.compile(r"handed over ([\d,]+) events .*written ([\d,]+), queue ([\d,]+), lag ([\d.]+)s")


@dataclass
class Sample:
    """One second of the run."""

    at: float
    rss_mb: float
    handed: int = 0
    written: int = 0
    queue: int = 0
    lag: float = 0.0


@dataclass
class Run:
    """What one backend did."""

    backend: str
    seconds: float
    events: int
    samples: list[Sample] = field(default_factory=list)
    written: int = 0
    exit_code: int = 0


def write_events(path: Path, count: int, members: int, seed: int = 1) -> None:
    """Consents for every member, then `count` messages with unique ids, as JSONL."""
    sys.path.insert(0, str(ROOT))
    from bot.domain.codec import encode
    from bot.domain.events import ConsentChanged, MessagePosted

    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for m in range(members):
            consent = ConsentChanged(
                platform="discord",
                community="g1",
                member=f"u{m}",
                member_name=f"member {m}",
                profiling=True,
                ts=START - timedelta(days=1),
            )
            out.write(json.dumps(encode(consent)) + "\n")
        for i in range(count):
            message = MessagePosted(
                platform="discord",
                community="g1",
                channel=f"c{rng.randrange(12)}",
                message=str(10**17 + i),
                member=f"u{rng.randrange(members)}",
                text="how do I use " + " ".join(rng.choices(WORDS, k=rng.randint(4, 24))) + "?",
                reply_to=str(10**17 + rng.randrange(i)) if i and rng.random() < 0.3 else None,
                ts=START + timedelta(seconds=i),
            )
            out.write(json.dumps(encode(message)) + "\n")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else 0.0


def replay(config: Path, events: Path, count: int, rate: float, backend: str) -> Run:
    """Run `cohort replay` as its own process and sample it once a second."""
    run = Run(backend=backend, seconds=0.0, events=count)
    started = time.monotonic()
    process = subprocess.Popen(
        [str(COHORT), "--config", str(config), "replay", str(events), "--rate", str(rate)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        cwd=config.parent,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    while process.poll() is None:
        time.sleep(1.0)
        memory = rss_mb(process.pid)
        ticks = [m for line in lines[-20:] if (m := TICK.search(line))]
        if memory:
            sample = Sample(at=time.monotonic() - started, rss_mb=memory)
            if ticks:
                handed, written, queue, lag = ticks[-1].groups()
                sample.handed = int(handed.replace(",", ""))
                sample.written = int(written.replace(",", ""))
                sample.queue = int(queue.replace(",", ""))
                sample.lag = float(lag)
            run.samples.append(sample)
    reader.join(timeout=10)
    tail = "".join(lines[-50:])
    run.seconds = time.monotonic() - started
    run.exit_code = process.returncode
    if match := re.search(
        r"written ([\d,]+), lost ([\d,]+)", tail.splitlines()[-1] if tail else ""
    ):
        run.written = int(match.group(1).replace(",", ""))
    if run.exit_code:
        print(f"{backend}: replay exited {run.exit_code}:\n{tail[-2000:]}", file=sys.stderr)
    return run


async def pg_database(action: str, name: str) -> None:
    """Create or drop a scratch PostgreSQL database."""
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN)
    try:
        if action == "create":
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def rss_at(samples: list[Sample], seconds: float) -> float:
    """RSS of the first sample at or after `seconds` (the last one if none)."""
    later = [s for s in samples if s.at >= seconds]
    return (later[0] if later else samples[-1]).rss_mb if samples else 0.0


def summarise(run: Run, rate: float, warmup: float) -> dict[str, object]:
    """The figures of one run."""
    samples = run.samples
    lags = sorted(s.lag for s in samples) or [0.0]
    after_warmup = rss_at(samples, warmup)
    end = samples[-1].rss_mb if samples else 0.0
    return {
        "backend": run.backend,
        "seconds": round(run.seconds, 1),
        "target rate": rate,
        "events": run.events,
        "written": run.written,
        "rows/s": round(run.written / run.seconds) if run.seconds else 0,
        "lag p50 s": round(statistics.median(lags), 3),
        "lag p99 s": round(lags[min(len(lags) - 1, int(0.99 * len(lags)))], 3),
        "lag max s": round(lags[-1], 3),
        "rss start MiB": round(samples[0].rss_mb, 1) if samples else 0.0,
        "rss at 60 s MiB": round(rss_at(samples, 60.0), 1),
        f"rss after warm-up ({warmup:.0f} s) MiB": round(after_warmup, 1),
        "rss half way MiB": round(rss_at(samples, run.seconds / 2), 1),
        "rss end MiB": round(end, 1),
        "rss max MiB": round(max((s.rss_mb for s in samples), default=0.0), 1),
        "growth after warm-up": f"{(end / after_warmup - 1) * 100:+.1f} %" if after_warmup else "-",
        "exit": run.exit_code,
    }


def table(rows: list[dict[str, object]]) -> str:
    """A Markdown table, one column per backend."""
    keys = list(rows[0])
    lines = ["| | " + " | ".join(str(r["backend"]) for r in rows) + " |"]
    lines.append("|---|" + "---:|" * len(rows))
    for key in keys[1:]:
        lines.append(f"| {key} | " + " | ".join(str(r[key]) for r in rows) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the load on each backend and print the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument(
        "--warmup", type=float, default=180.0, help="seconds before the RSS baseline"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    count = int(args.seconds * args.rate)
    results = []
    with tempfile.TemporaryDirectory(prefix="cohort-load-") as tmp:
        folder = Path(tmp)
        events = folder / "events.jsonl"
        write_events(events, count, args.members)
        backends = ["sqlite"] if args.skip_postgres else ["sqlite", "postgresql"]
        for backend in backends:
            work = folder / backend
            work.mkdir()
            database = f"cohort_load_{uuid.uuid4().hex[:8]}"
            if backend == "sqlite":
                url = "sqlite+aiosqlite:///cohort.db"
            else:
                asyncio.run(pg_database("create", database))
                url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}"
            config = work / "config.toml"
            config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
            try:
                subprocess.run(
                    [str(COHORT), "--config", str(config), "db", "upgrade"],
                    check=True,
                    cwd=work,
                    capture_output=True,
                )
                run = replay(config, events, count + args.members, args.rate, backend)
            finally:
                if backend == "postgresql":
                    asyncio.run(pg_database("drop", database))
            results.append(summarise(run, args.rate, args.warmup))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            if run.exit_code:
                raise SystemExit(f"{backend}: cohort replay failed (exit {run.exit_code})")
    print(
        f"`cohort replay` at {args.rate:,.0f} events/s for {args.seconds:,.0f} s "
        f"({count:,} messages from {args.members:,} members), "
        f"{datetime.now(UTC):%Y-%m-%d}:\n"
    )
    print(table(results))


if __name__ == "__main__":
    main()
