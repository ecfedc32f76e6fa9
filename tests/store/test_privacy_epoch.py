"""Consent and erasure reach every process at write time, and durable writes sync.

Two `Cohort` objects on one database stand for two processes: they share nothing in
memory, only the store, exactly like `cohort run` and `cohort privacy forget`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.app import Cohort
from bot.core.services.suite import Services
from bot.domain.refs import MemberRef
from bot.store import schema as s
from tests.conftest import make_settings
from tests.helpers import T0, consent, count, message, purchase, rows, write


@pytest.fixture
async def pair(backend: tuple[str, str | None]) -> AsyncIterator[tuple[Cohort, Cohort]]:
    """Two independent Cohorts (two processes) on the same database."""
    url, schema = backend
    first = await Cohort.build(make_settings(url, ingest={"batch_seconds": 0.05}), schema=schema)
    second = await Cohort.build(make_settings(url), schema=schema)
    first.pipeline.start()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def stored_messages_of(cohort: Cohort, member: str) -> int:
    """Messages stored under the member's identity."""
    m = s.members.c
    found = await rows(
        cohort,
        select(s.messages.c.id)
        .join(s.members, m.id == s.messages.c.member_id)
        .where(m.platform_id == member),
    )
    return len(found)


async def test_a_member_erased_elsewhere_is_never_stored_again(
    pair: tuple[Cohort, Cohort],
) -> None:
    """After another process erases u1, this one's next batch counts u1 only anonymously."""
    ingesting, other = pair
    await write(ingesting, consent("u1"))
    ingesting.pipeline.ingest(message(text="before"))
    await ingesting.pipeline.flush()
    assert await stored_messages_of(ingesting, "u1") == 1

    await Services.build(other, instance="other").privacy.forget(MemberRef("discord", "u1"))

    ingesting.pipeline.ingest(message(text="after", ts=T0 + timedelta(minutes=1)))
    await ingesting.pipeline.flush()
    assert ingesting.pipeline.stats().failed == 0
    assert await stored_messages_of(ingesting, "u1") == 0
    assert await count(ingesting, s.members, s.members.c.platform_id == "u1") == 0
    daily = await rows(ingesting, select(s.channel_daily.c.anonymous_messages))
    assert sum(row.anonymous_messages for row in daily) == 2  # folded + the new one


async def test_consent_withdrawn_elsewhere_stops_storing_at_once(
    pair: tuple[Cohort, Cohort],
) -> None:
    """A withdrawal written by another process applies to this one's very next write."""
    ingesting, other = pair
    await write(ingesting, consent("u1"))
    await write(ingesting, message(text="kept"))
    await write(other, consent("u1", profiling=False, ts=T0))
    await write(ingesting, message(text="not kept", ts=T0 + timedelta(minutes=1)))
    texts = await rows(ingesting, select(s.messages.c.text))
    assert [row.text for row in texts] == ["kept"]


async def test_a_purchase_of_an_erased_member_is_dropped_not_anonymized(
    pair: tuple[Cohort, Cohort],
) -> None:
    """Erased elsewhere: the purchase is not stored at all, and nothing fails."""
    ingesting, other = pair
    async with ingesting.store.write() as conn:
        await conn.execute(s.courses.insert().values(id="rust-101", title="Rust", tags=[]))
    await write(ingesting, consent("u1"), purchase(order="o-1", source="import"))
    await Services.build(other, instance="other").privacy.forget(MemberRef("discord", "u1"))
    result = await write(ingesting, purchase(order="o-2", source="import"))
    assert (result.interactions, result.rejected) == (0, 1)
    keys = await rows(ingesting, select(s.interactions.c.dedupe_key, s.interactions.c.member_id))
    assert [tuple(row) for row in keys] == [("purchase:import:o-1", None)]


async def test_a_durable_write_syncs_the_log_and_the_others_do_not(
    sqlite_cohort: Cohort,
) -> None:
    """SQLite: `durable=True` runs with synchronous=FULL (2), other writes with NORMAL (1)."""

    def level(conn: object) -> int:
        return int(conn.exec_driver_sql("PRAGMA synchronous").scalar())  # type: ignore[attr-defined]

    store = sqlite_cohort.store
    assert await store.run_write(level) == 1
    assert await store.run_write(level, durable=True) == 2
    assert await store.run_write(level) == 1
