"""Run per-table writers directly, on a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from bot.app import Cohort
from bot.config import PrivacyMode
from bot.domain.admission import Admission, admit
from bot.domain.consent import ConsentGate
from bot.domain.events import Event
from bot.store.ids import IdResolver
from bot.store.statements import Statements
from bot.store.writers.context import WriteContext, WriterCache
from bot.store.writers.counts import write_aggregates
from bot.store.writers.resolve import resolve_ids
from bot.store.writers.results import WriteResult
from bot.store.writers.seen import KeyedHash
from tests.helpers import T0

Step = Callable[[WriteContext, Admission], Any]


class Tables:
    """One writer's worth of state (gate, id caches, lookups) over a cohort's store.

    `run(events, step)` admits the events with its own gate, resolves their ids, runs
    `step` (the per-table writer under test) and writes the batch's anonymous counts,
    all in one write transaction, exactly as `EventWriter.write` orders them.
    """

    def __init__(self, cohort: Cohort, key: bytes) -> None:
        self.cohort = cohort
        self.sql = Statements(cohort.store.dialect)
        self.ids = IdResolver(self.sql)
        self.hash = KeyedHash(key)
        self.cache = WriterCache()
        self.gate = ConsentGate(PrivacyMode.OPT_IN)
        self.gate.load_erasures(lambda p, m: self.hash("erasure", p, m), {})

    def consent(self, *members: str, community: str = "g1") -> None:
        """Let members be stored in a community (the gate only; no row is written)."""
        for member in members:
            self.gate.record("discord", community, member, True, None, T0)

    async def run(self, events: Sequence[Event], step: Step) -> WriteResult:
        """Admit, resolve, run `step` and write the counts in one transaction."""

        def work(conn: Any) -> WriteResult:
            ctx = WriteContext(conn, self.sql, self.ids, self.hash, self.cache)
            admission = admit(events, self.gate)
            resolve_ids(ctx, events, admission)
            step(ctx, admission)
            write_aggregates(conn, self.sql, ctx.counts)
            return ctx.result

        return await self.cohort.store.run_write(work)

    async def direct(self, work: Callable[[WriteContext], Any]) -> Any:
        """Run `work` with a fresh context in one write transaction, counts written after."""

        def run(conn: Any) -> Any:
            ctx = WriteContext(conn, self.sql, self.ids, self.hash, self.cache)
            out = work(ctx)
            write_aggregates(conn, self.sql, ctx.counts)
            return out

        return await self.cohort.store.run_write(run)


@pytest.fixture
async def tables(cohort: Cohort) -> Tables:
    """Per-table writers over the cohort's store, on each backend."""
    return Tables(cohort, await cohort.store.install_key())
