"""Communities by platform identity or row id, and their settings."""

from __future__ import annotations

import pytest

from bot.app import Cohort
from bot.store.communities import (
    all_communities,
    community_by_id,
    find_community,
    update_community,
)
from tests.helpers import consent, write


async def test_a_community_is_found_by_identity_and_by_row_id(cohort: Cohort) -> None:
    """Lookups by (platform, id) and by row id agree; unknown ones are None."""
    await write(cohort, consent("u1", community_name="Rustaceans"), consent("u1", community="g2"))
    async with cohort.store.read() as conn:
        found = await find_community(conn, "discord", "g1")
        assert found is not None
        again = await community_by_id(conn, found.id)
        missing = await find_community(conn, "telegram", "g1")
        gone = await community_by_id(conn, found.id + 1000)
    assert (found.ref, found.name) == ("discord:g1", "Rustaceans")
    assert again == found
    assert missing is None and gone is None


async def test_all_communities_come_in_row_order(cohort: Cohort) -> None:
    """Every community is listed once, oldest row first."""
    await write(cohort, consent("u1", community="g2"))
    await write(cohort, consent("u1", community="g1"))
    async with cohort.store.read() as conn:
        everyone = await all_communities(conn)
    assert [c.platform_id for c in everyone] == ["g2", "g1"]
    assert [c.id for c in everyone] == sorted(c.id for c in everyone)


async def test_settings_change_and_unknown_ones_are_refused(cohort: Cohort) -> None:
    """Digest schedule and timezone change; a name that is not a setting changes nothing."""
    await write(cohort, consent("u1"))
    async with cohort.store.write() as conn:
        place = await find_community(conn, "discord", "g1")
        assert place is not None
        await update_community(conn, place.id, {"digest_cron": "0 9 * * 1", "timezone": "UTC"})
    with pytest.raises(ValueError, match="not a community setting: name"):
        async with cohort.store.write() as conn:
            await update_community(conn, place.id, {"name": "x", "locale": "zh_Hans"})
    async with cohort.store.read() as conn:
        after = await community_by_id(conn, place.id)
    assert after is not None
    assert (after.digest_cron, after.timezone, after.locale) == ("0 9 * * 1", "UTC", None)
    assert after.name == place.name
