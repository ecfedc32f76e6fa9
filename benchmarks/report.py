"""How long `cohort report` takes on a large store, and how big the page gets.

Builds a synthetic community (default 100,000 members, 14 days) in a fresh SQLite
store through the JSONL importer, optionally trains a model on it (segments and the
influence graph, with the fast ranking settings of the tests), then times gathering
the report's data and drawing and writing the page. The graph is sampled (top 40
members) and topics read at most 20,000 recent messages, so the page stays small.

Usage:
    .venv/bin/python benchmarks/report.py [--members 100000] [--days 14] [--train]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.app import Cohort
from bot.config import load_settings
from bot.core.services.suite import Services
from bot.demo import synthetic
from bot.importers.base import import_file
from bot.importers.courses import read_catalog
from bot.importers.events_jsonl import parse_events
from bot.report.gather import gather
from bot.report.page import render_html
from bot.store.courses import upsert_courses
from bot.training.artifacts import save_bundle
from bot.training.inputs import load_inputs
from bot.training.models import Models
from bot.training.train import train
from recsys.model import RankingConfig

CATALOG = Path(__file__).resolve().parents[1] / "bot" / "demo" / "data" / "courses.toml"


async def run(members: int, days: int, trained: bool, folder: Path) -> None:
    settings = load_settings(None, database={"url": f"sqlite+aiosqlite:///{folder / 'b.db'}"})
    cohort = await Cohort.build(settings)
    now = datetime.now(UTC)
    try:
        started = time.perf_counter()
        async with cohort.store.write() as conn:
            await upsert_courses(conn, [r.row() for r in read_catalog(CATALOG)])
        community = synthetic.generate(
            "discord", members=members, days=days, seed=1, start=now - timedelta(days=days)
        )
        path = folder / "events.jsonl"
        synthetic.write_jsonl(path, synthetic.events(community, include_purchases=False))
        await import_file(cohort, path, parse_events)
        print(
            f"store: {members:,} members, {len(community.messages):,} messages "
            f"({time.perf_counter() - started:.0f} s to build)"
        )
        artifacts = folder / "artifacts"
        if trained:
            started = time.perf_counter()
            inputs = await load_inputs(cohort.store, cohort.gate, now=now)
            fast = RankingConfig(hybrid_min_steps=60, validation_members=200)
            save_bundle(train(inputs, ranking=fast), artifacts)
            print(f"trained in {time.perf_counter() - started:.0f} s")
        services = Services.build(cohort, models=Models(artifacts, settings.recommend))
        await services.context.models.current()  # loading the model is not the report's time
        started = time.perf_counter()
        data = await gather(services.context, services.funnel, days=30)
        gathered = time.perf_counter() - started
        started = time.perf_counter()
        page = render_html(data)
        drawn = time.perf_counter() - started
        (folder / "report.html").write_text(page, encoding="utf-8")
        nodes = sum(len(c.graph.nodes) for c in data.communities)
        print(
            f"report: gather {gathered:.1f} s, draw and write {drawn:.1f} s, "
            f"total {gathered + drawn:.1f} s; page {len(page.encode()) / 1024:,.0f} KiB, "
            f"graph {nodes} nodes"
        )
    finally:
        await cohort.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--train", action="store_true", help="train a model first")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(args.members, args.days, args.train, Path(folder)))


if __name__ == "__main__":
    main()
