"""Who may be addressed in a community: DM opt-ins and members who have not left."""

from __future__ import annotations

from bot.app import Cohort
from bot.domain.events import MemberLeft
from bot.store.audiences import dm_audience, still_members
from bot.store.communities import find_community
from bot.store.members import find_member
from tests.helpers import at, consent, join, write


def leave(member: str, minutes: float, community: str = "g1") -> MemberLeft:
    """`member` leaves `community` at T0 + `minutes`."""
    return MemberLeft(platform="discord", community=community, member=member, ts=at(minutes))


async def _setup(cohort: Cohort) -> tuple[int, dict[str, int]]:
    """g1 with: dm (opted in), quiet (profiling only), gone (opted in, left),
    back (opted in, left and rejoined), and dm also in g2."""
    await write(
        cohort,
        consent("dm", dm=True),
        consent("quiet", dm=False),
        consent("gone", dm=True),
        consent("back", dm=True),
        consent("dm", dm=True, community="g2"),
        join("gone", ts=at(0)),
        join("back", ts=at(0)),
        leave("gone", 10),
        leave("back", 10),
        join("back", ts=at(20)),
    )
    async with cohort.store.read() as conn:
        place = await find_community(conn, "discord", "g1")
        assert place is not None
        ids = {}
        for name in ("dm", "quiet", "gone", "back"):
            member = await find_member(conn, "discord", name)
            assert member is not None
            ids[name] = member.id
    return place.id, ids


async def test_dm_audience_is_who_opted_in_and_is_still_there(cohort: Cohort) -> None:
    """Opted in to DMs and present (or back after leaving); not the silent nor the departed."""
    community, ids = await _setup(cohort)
    async with cohort.store.read() as conn:
        audience = await dm_audience(conn, community)
    assert audience == sorted([ids["dm"], ids["back"]])


async def test_still_members_drops_who_left_and_strangers(cohort: Cohort) -> None:
    """Present members stay, whatever their DM choice; who left or never joined is dropped."""
    community, ids = await _setup(cohort)
    everyone = list(ids.values())
    async with cohort.store.read() as conn:
        present = await still_members(conn, community, everyone)
        none = await still_members(conn, community, [])
    assert present == {ids["dm"], ids["quiet"], ids["back"]}
    assert none == set()


async def test_still_members_reads_long_lists_in_chunks(cohort: Cohort) -> None:
    """Thousands of ids (more than one statement may bind) still find every member."""
    community, ids = await _setup(cohort)
    wanted = [*range(100_000, 102_000), *ids.values()]
    async with cohort.store.read() as conn:
        present = await still_members(conn, community, wanted)
    assert present == {ids["dm"], ids["quiet"], ids["back"]}
