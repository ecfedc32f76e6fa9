"""A community's channels: names for pickers, row ids for plans."""

from __future__ import annotations

from bot.app import Cohort
from bot.store.channels import channel_row, community_channels
from bot.store.communities import find_community
from tests.helpers import consent, message, write


async def test_channels_are_listed_by_name_within_their_community(cohort: Cohort) -> None:
    """(platform id, name) sorted by name; channels of other communities are not listed."""
    await write(
        cohort,
        consent("u1"),
        consent("u1", community="g2"),
        message(channel="c2", channel_name="zeta"),
        message(channel="c1", channel_name="alpha"),
        message(community="g2", channel="c9", channel_name="beta"),
    )
    async with cohort.store.read() as conn:
        g1 = await find_community(conn, "discord", "g1")
        assert g1 is not None
        listed = await community_channels(conn, g1.id)
    assert listed == [("c1", "alpha"), ("c2", "zeta")]


async def test_a_channel_row_is_found_only_in_its_own_community(cohort: Cohort) -> None:
    """The row id of a known channel; None for an unknown one or another community's."""
    await write(
        cohort,
        consent("u1"),
        consent("u1", community="g2"),
        message(channel="c1"),
        message(community="g2", channel="c9"),
    )
    async with cohort.store.read() as conn:
        g1 = await find_community(conn, "discord", "g1")
        g2 = await find_community(conn, "discord", "g2")
        assert g1 is not None and g2 is not None
        own = await channel_row(conn, g1.id, "c1")
        theirs = await channel_row(conn, g1.id, "c9")
        unknown = await channel_row(conn, g1.id, "nope")
        there = await channel_row(conn, g2.id, "c9")
    assert isinstance(own, int) and isinstance(there, int) and own != there
    assert theirs is None and unknown is None
