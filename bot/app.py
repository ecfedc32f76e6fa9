"""The composition root: build every long-lived object from the settings, once.

Commands and adapters receive a `Cohort` and never construct stores, gates or
pipelines themselves; nothing here holds module-level state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from bot.config import Settings
from bot.core.pipeline import IngestPipeline
from bot.domain.consent import ConsentGate
from bot.store.consents import load_consents, load_erasures, reload_gate
from bot.store.store import Store
from bot.store.writer import EventWriter

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Cohort:
    """Everything a running Cohort needs: settings, store, consent gate, writer, pipeline."""

    settings: Settings
    store: Store
    gate: ConsentGate
    writer: EventWriter
    pipeline: IngestPipeline

    @classmethod
    async def build(cls, settings: Settings, *, schema: str | None = None) -> Cohort:
        """Open the store (migrating it if configured to), load consent, wire the pipeline.

        `schema` selects a PostgreSQL schema (tests use a fresh one per run).
        """
        store = await Store.open(
            settings.database_url,
            pool_size=settings.database.pool_size,
            busy_timeout_ms=settings.database.busy_timeout_ms,
            schema=schema,
            migrate_to_head=settings.database.auto_migrate,
        )
        try:
            gate = ConsentGate(settings.privacy.mode)
            writer = EventWriter(store.dialect, gate, await store.install_key())
            async with store.read() as conn:
                gate.load_erasures(writer.identity_hash, await load_erasures(conn))
                gate.replace_all(await load_consents(conn))
        except BaseException:
            await store.close()
            raise
        pipeline = IngestPipeline(
            store,
            writer,
            queue_size=settings.ingest.queue_size,
            batch_size=settings.ingest.batch_size,
            batch_seconds=settings.ingest.batch_seconds,
        )
        log.info(
            "cohort ready: %s database, privacy %s, %d consent decisions",
            store.dialect,
            settings.privacy.mode.value,
            len(gate),
        )
        return cls(settings=settings, store=store, gate=gate, writer=writer, pipeline=pipeline)

    async def reload_consent(self) -> int:
        """Reload consent and erasures from the database (changed by another process).

        Runs on the writer's thread, in order with this process's batches; the id
        caches are dropped too, since rows may have been erased. Returns the number
        of decisions loaded.
        """
        writer, gate = self.writer, self.gate

        def work(conn: Connection) -> int:
            loaded = reload_gate(conn, gate, writer.identity_hash)
            writer.ids.clear()
            return loaded

        return await self.store.run_write(work)

    async def close(self) -> None:
        """Flush the pipeline, then close the store."""
        try:
            await self.pipeline.stop()
        finally:
            await self.store.close()
