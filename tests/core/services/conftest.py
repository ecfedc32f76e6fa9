"""Fixtures for service tests: services over a real store, a settable clock, a catalog,
a synthetic community, and a tiny trained model.

`services` runs on both backends (through the `cohort` fixture); `sqlite_services`
on SQLite only. The clock starts at `NOW` (a Monday, 12:00 UTC: outside the default
quiet hours) and tests move it with `clock.now = ...` or `clock.advance(...)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Cohort
from bot.config import Settings
from bot.core.services.suite import Services
from bot.demo import synthetic
from bot.importers.base import import_file
from bot.importers.courses import read_catalog
from bot.importers.events_jsonl import parse_events
from bot.store.courses import upsert_courses
from bot.training.artifacts import save_bundle
from bot.training.inputs import load_inputs
from bot.training.models import Models
from bot.training.train import train
from recsys.model import RankingConfig
from tests.conftest import make_settings

CATALOG = Path(__file__).resolve().parents[3] / "bot" / "demo" / "data" / "courses.toml"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
FAST = RankingConfig(hybrid_min_steps=60, validation_members=200)


@dataclass
class Clock:
    """A settable clock for services."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move forward by `timedelta(**delta)`; returns the new time."""
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A clock at NOW."""
    return Clock()


def build_services(cohort: Cohort, clock: Clock, artifacts: Path) -> Services:
    """Services over `cohort` with `clock` and models under `artifacts`."""
    settings = cohort.settings
    return Services.build(cohort, models=Models(artifacts, settings.recommend), clock=clock)


@pytest.fixture
async def services(cohort: Cohort, clock: Clock, tmp_path: Path) -> Services:
    """Services on each backend (opt-in privacy, default delivery settings)."""
    return build_services(cohort, clock, tmp_path / "artifacts")


@pytest.fixture
async def sqlite_services(sqlite_cohort: Cohort, clock: Clock, tmp_path: Path) -> Services:
    """Services on SQLite only."""
    return build_services(sqlite_cohort, clock, tmp_path / "artifacts")


async def load_catalog(cohort: Cohort) -> None:
    """The demo catalog (13 courses)."""
    async with cohort.store.write() as conn:
        await upsert_courses(conn, [r.row() for r in read_catalog(CATALOG)])


async def import_community(
    cohort: Cohort, tmp_path: Path, *, members: int = 40, seed: int = 5, platform: str = "discord"
) -> synthetic.Community:
    """A synthetic community (history ending at NOW) imported through the JSONL importer."""
    generated = synthetic.generate(
        platform, members=members, days=21, seed=seed, start=NOW - timedelta(days=21)
    )
    path = tmp_path / f"events-{platform}-{seed}.jsonl"
    synthetic.write_jsonl(path, synthetic.events(generated))
    await import_file(cohort, path, parse_events)
    return generated


async def train_model(services: Services) -> None:
    """Train a tiny model on what the store holds and save it where services look."""
    cohort = services.context.cohort
    inputs = await load_inputs(cohort.store, cohort.gate, now=services.context.clock())
    save_bundle(train(inputs, ranking=FAST), services.context.models.root)


def settings_with(url: str, **sections: dict[str, Any]) -> Settings:
    """Settings on `url` with section overrides (fast batching)."""
    return make_settings(url, ingest={"batch_seconds": 0.05}, **sections)


@pytest.fixture
async def cohort_with(
    backend: tuple[str, str | None],
) -> AsyncIterator[Any]:
    """A factory for a Cohort with custom settings on each backend (closed afterwards)."""
    url, schema = backend
    built: list[Cohort] = []

    async def make(**sections: dict[str, Any]) -> Cohort:
        app = await Cohort.build(settings_with(url, **sections), schema=schema)
        app.pipeline.start()
        built.append(app)
        return app

    try:
        yield make
    finally:
        for app in built:
            await app.close()
