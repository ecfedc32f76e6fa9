"""Services ask for the trained model on the async path: loading it never blocks the loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from sqlalchemy import select

from bot.config import RecommendSettings
from bot.core.services.recommend import PERSONAL, holdout_key, in_holdout
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.store import schema as s
from bot.store.members import find_member
from bot.training.facade import TrainedModel
from bot.training.models import Models
from tests.core.services.conftest import Clock, import_community, load_catalog, train_model
from tests.helpers import rows

STUCK = 30.0  # seconds the gated load waits before giving up (only if the test is broken)


async def test_recommend_waits_for_a_slow_first_load_while_the_loop_runs(
    sqlite_services: Services, clock: Clock, tmp_path: Path
) -> None:
    """`/recommend` before the model is loaded: the read runs in a thread, a heartbeat task
    ticks meanwhile (the read only finishes after three ticks), and personal picks follow."""
    cohort = sqlite_services.context.cohort
    await load_catalog(cohort)
    community = await import_community(cohort, tmp_path)
    await train_model(sqlite_services)
    started, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def slow_read(folder: Path, settings: RecommendSettings) -> TrainedModel:
        started.set()
        released.append(release.wait(STUCK))
        return TrainedModel.read(folder, settings)

    root = sqlite_services.context.models.root
    models = Models(root, cohort.settings.recommend, reader=slow_read)
    services = Services.build(cohort, models=models, clock=clock)
    holdout = cohort.settings.recommend.holdout
    actor = None
    for member in community.members:
        if not member.profiling:
            continue
        candidate = Actor("discord", member.id, member.name, community.id, None, "en")
        async with cohort.store.read() as conn:
            stored = await find_member(conn, "discord", member.id)
        if stored is not None and not in_holdout(holdout_key(candidate, stored), holdout):
            actor = candidate
            break
    assert actor is not None
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        await asyncio.to_thread(started.wait, STUCK)
        while ticks < 3:
            await asyncio.sleep(0.001)
            ticks += 1
        release.set()

    beating = asyncio.create_task(heartbeat())
    reply = await services.recommend.recommend(actor)
    await beating
    assert released == [True] and ticks == 3
    variants = await rows(
        cohort, select(s.interactions.c.variant).where(s.interactions.c.kind == "impression")
    )
    assert reply.blocks and variants and {v for (v,) in variants} == {PERSONAL}
