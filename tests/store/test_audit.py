"""The audit log: each line gets its own id, and a line reads back only as its action."""

from __future__ import annotations

from bot.app import Cohort
from bot.store.audit import audit_entry, write_audit
from bot.store.communities import find_community
from tests.helpers import at, consent, write


async def test_each_line_returns_its_own_id_and_reads_back(cohort: Cohort) -> None:
    """Ids increase line by line; the entry carries its time, community and details."""
    await write(cohort, consent("u1"))
    async with cohort.store.read() as conn:
        place = await find_community(conn, "discord", "g1")
    assert place is not None
    async with cohort.store.write() as conn:
        first = await write_audit(
            conn,
            ts=at(1),
            action="promote.preview",
            outcome="ok",
            community_id=place.id,
            target="rust-101 opted-in",
            details={"course": "rust-101", "by": "abc"},
        )
        second = await write_audit(conn, ts=at(2), action="optout", outcome="ok")
    assert second > first
    async with cohort.store.read() as conn:
        entry = await audit_entry(conn, first, "promote.preview")
        bare = await audit_entry(conn, second, "optout")
    assert entry is not None and bare is not None
    assert (entry.id, entry.ts, entry.community_id) == (first, at(1), place.id)
    assert entry.details == {"course": "rust-101", "by": "abc"}
    assert (bare.community_id, bare.details) == (None, {})


async def test_a_line_is_not_read_as_another_action(cohort: Cohort) -> None:
    """Asking for a preview by the id of another kind of line, or an unknown id, gives None."""
    async with cohort.store.write() as conn:
        line = await write_audit(conn, ts=at(1), action="promote.send", outcome="queued")
    async with cohort.store.read() as conn:
        assert await audit_entry(conn, line, "promote.preview") is None
        assert await audit_entry(conn, line + 1000, "promote.send") is None
        assert await audit_entry(conn, line, "promote.send") is not None
