"""Consent decisions land on the membership row; an older one never overrides a newer."""

from __future__ import annotations

from sqlalchemy import select

from bot.store import schema as s
from bot.store.writers.consents import write_consents
from tests.helpers import at, consent, rows
from tests.store.writers.conftest import Tables


async def test_decisions_are_stored_and_an_older_one_is_ignored(tables: Tables) -> None:
    """Profiling and DM flags with their time; a stale decision written later changes nothing."""
    newer = consent("u1", True, True, ts=at(10))
    result = await tables.run([newer], lambda ctx, a: write_consents(ctx, a.consents))
    await tables.direct(lambda ctx: write_consents(ctx, [consent("u1", False, False, ts=at(1))]))
    m = s.memberships.c
    stored = await rows(
        tables.cohort, select(m.consent_profiling, m.consent_dm, m.consent_updated_at)
    )
    assert result.consents == 1
    assert [tuple(r) for r in stored] == [(True, True, at(10))]
