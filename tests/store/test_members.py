"""Stored members: lookups, persons, memberships and whether their DMs are open."""

from __future__ import annotations

from bot.app import Cohort
from bot.store.communities import find_community
from bot.store.links import link
from bot.store.members import (
    find_member,
    mark_reachable,
    mark_unreachable,
    members_by_ids,
    memberships_of,
    person_members,
)
from tests.helpers import T0, at, consent, message, write


async def _ids(cohort: Cohort, *members: str) -> list[int]:
    async with cohort.store.read() as conn:
        found = [await find_member(conn, "discord", member) for member in members]
    assert all(found), members
    return [m.id for m in found if m is not None]


async def test_only_consenting_members_are_found(cohort: Cohort) -> None:
    """A consenting member is found with their name; someone who never consented is not."""
    await write(
        cohort,
        consent("u1"),
        message(member="u1", member_name="alice"),
        message(member="u9", member_name="mallory"),
    )
    async with cohort.store.read() as conn:
        alice = await find_member(conn, "discord", "u1")
        mallory = await find_member(conn, "discord", "u9")
        elsewhere = await find_member(conn, "telegram", "u1")
    assert alice is not None
    assert (alice.ref, alice.display_name, alice.person_id) == ("discord:u1", "alice", None)
    assert mallory is None and elsewhere is None


async def test_members_by_ids_skips_missing_ids(cohort: Cohort) -> None:
    """Known ids map to their members (duplicates once); unknown ids are simply absent."""
    await write(cohort, consent("u1"), consent("u2"))
    u1, u2 = await _ids(cohort, "u1", "u2")
    async with cohort.store.read() as conn:
        found = await members_by_ids(conn, [u2, u1, u2, u1 + u2 + 1000])
        none = await members_by_ids(conn, [])
    assert {i: m.ref for i, m in found.items()} == {u1: "discord:u1", u2: "discord:u2"}
    assert none == {}


async def test_a_person_is_every_linked_identity(cohort: Cohort) -> None:
    """Linked identities come back together; an unlinked member alone; an unknown id as none."""
    await write(
        cohort,
        consent("u1"),
        consent("t1", platform="telegram", community="-100"),
        consent("u2"),
    )
    u1, u2 = await _ids(cohort, "u1", "u2")
    async with cohort.store.write() as conn:
        t1 = await find_member(conn, "telegram", "t1")
        assert t1 is not None
        await link(conn, u1, t1.id, T0)
    async with cohort.store.read() as conn:
        person = await person_members(conn, t1.id)
        alone = await person_members(conn, u2)
        nobody = await person_members(conn, u1 + u2 + t1.id + 1000)
    assert sorted(m.ref for m in person) == ["discord:u1", "telegram:t1"]
    assert len({m.person_id for m in person}) == 1 and person[0].person_id is not None
    assert [m.ref for m in alone] == ["discord:u2"]
    assert nobody == []


async def test_memberships_of_lists_each_community(cohort: Cohort) -> None:
    """(member, community) pairs for every membership of the given members only."""
    await write(cohort, consent("u1"), consent("u1", community="g2"), consent("u2"))
    u1, _ = await _ids(cohort, "u1", "u2")
    async with cohort.store.read() as conn:
        g1 = await find_community(conn, "discord", "g1")
        g2 = await find_community(conn, "discord", "g2")
        assert g1 is not None and g2 is not None
        pairs = await memberships_of(conn, [u1])
        none = await memberships_of(conn, [])
    assert sorted(pairs) == sorted([(u1, g1.id), (u1, g2.id)])
    assert none == []


async def test_closed_dms_are_remembered_until_the_member_writes(cohort: Cohort) -> None:
    """Marking unreachable stores the time; marking reachable clears it, for that member only."""
    await write(cohort, consent("u1"), consent("u2"))
    u1, u2 = await _ids(cohort, "u1", "u2")
    async with cohort.store.write() as conn:
        await mark_unreachable(conn, u1, at(5))
        await mark_unreachable(conn, u2, at(6))
    async with cohort.store.read() as conn:
        closed = await members_by_ids(conn, [u1, u2])
    assert closed[u1].dm_unreachable_at == at(5) and closed[u2].dm_unreachable_at == at(6)
    async with cohort.store.write() as conn:
        await mark_reachable(conn, u1)
    async with cohort.store.read() as conn:
        after = await members_by_ids(conn, [u1, u2])
    assert after[u1].dm_unreachable_at is None
    assert after[u2].dm_unreachable_at == at(6)
