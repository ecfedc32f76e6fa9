"""Every named place gets a row; a member gets one only where something is stored as theirs."""

from __future__ import annotations

from sqlalchemy import select

from bot.store import schema as s
from tests.helpers import count, message, reaction, rows
from tests.store.writers.conftest import Tables


async def test_anonymous_events_create_places_but_no_member(tables: Tables) -> None:
    """A stranger's message and reaction create the community and channel, nobody's row."""
    await tables.run(
        [message(member="u2", community_name="Guild", channel_name="general"), reaction()],
        lambda ctx, a: None,
    )
    assert [r.name for r in await rows(tables.cohort, select(s.communities.c.name))] == ["Guild"]
    assert [r.name for r in await rows(tables.cohort, select(s.channels.c.name))] == ["general"]
    assert await count(tables.cohort, s.members) == 0


async def test_identified_members_get_a_row_a_membership_and_their_new_name(
    tables: Tables,
) -> None:
    """A consenting author is a member of the community; a changed display name is kept."""
    tables.consent("u1")
    await tables.run([message(member="u1", member_name="alice")], lambda ctx, a: None)
    await tables.run([message(member="u1", member_name="alicia")], lambda ctx, a: None)
    names = await rows(tables.cohort, select(s.members.c.platform_id, s.members.c.display_name))
    assert [tuple(r) for r in names] == [("u1", "alicia")]
    assert await count(tables.cohort, s.memberships) == 1
