"""Delivery policy: consent, reachability, caps per person, cooldown, quiet hours."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, update

from bot.app import Cohort
from bot.core.delivery.policy import (
    CAPPED,
    COOLDOWN,
    NO_CONSENT,
    QUIET,
    UNREACHABLE,
    DeliveryPolicy,
    Verdict,
    quiet_until,
    zone,
)
from bot.store import outbox
from bot.store import schema as s
from bot.store.communities import CommunityInfo, find_community, update_community
from bot.store.members import MemberInfo, find_member
from tests.core.services.conftest import NOW, load_catalog
from tests.helpers import consent, write

MakeCohort = Callable[..., Awaitable[Cohort]]
NIGHT, MORNING = time(22, 0), time(8, 0)
BERLIN, SHANGHAI = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Shanghai")


def utc(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# -- quiet_until and zone: pure functions ---------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 11, 23, 21, 59), None),  # a minute before the window
        (utc(2026, 11, 23, 22, 0), utc(2026, 11, 24, 8, 0)),  # start is inside
        (utc(2026, 11, 23, 23, 30), utc(2026, 11, 24, 8, 0)),  # before midnight: next morning
        (utc(2026, 11, 24, 0, 0), utc(2026, 11, 24, 8, 0)),  # midnight: this morning
        (utc(2026, 11, 24, 3, 0), utc(2026, 11, 24, 8, 0)),
        (utc(2026, 11, 24, 7, 59), utc(2026, 11, 24, 8, 0)),
        (utc(2026, 11, 24, 8, 0), None),  # end is outside
        (utc(2026, 11, 24, 12, 0), None),
    ],
)
def test_quiet_window_crossing_midnight_has_exact_boundaries(
    now: datetime, expected: datetime | None
) -> None:
    """22:00-08:00: [start, end) is quiet, and it ends at the next 08:00 (today or tomorrow)."""
    assert quiet_until(now, ZoneInfo("UTC"), NIGHT, MORNING) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (utc(2026, 11, 23, 12, 59), None),
        (utc(2026, 11, 23, 13, 0), utc(2026, 11, 23, 15, 0)),
        (utc(2026, 11, 23, 14, 59), utc(2026, 11, 23, 15, 0)),
        (utc(2026, 11, 23, 15, 0), None),
        (utc(2026, 11, 23, 23, 0), None),
    ],
)
def test_quiet_window_within_one_day(now: datetime, expected: datetime | None) -> None:
    """13:00-15:00 (not crossing midnight) is quiet only in between, ending the same day."""
    assert quiet_until(now, ZoneInfo("UTC"), time(13, 0), time(15, 0)) == expected


def test_quiet_window_is_local_time_and_the_answer_is_utc() -> None:
    """23:00 in Shanghai is quiet until 08:00 there, which is midnight UTC."""
    until = quiet_until(utc(2026, 11, 23, 15, 0), SHANGHAI, NIGHT, MORNING)
    assert until == utc(2026, 11, 24, 0, 0) and until.utcoffset() == timedelta(0)
    assert quiet_until(utc(2026, 11, 24, 0, 0), SHANGHAI, NIGHT, MORNING) is None  # 08:00 there


def test_quiet_window_ends_at_local_time_across_a_dst_change() -> None:
    """Berlin springs forward that night: the window ends at 08:00 CEST, 06:00 UTC."""
    until = quiet_until(utc(2026, 3, 28, 23, 0), BERLIN, NIGHT, MORNING)  # 00:00 CET
    assert until == utc(2026, 3, 29, 6, 0)


def test_empty_quiet_window_is_never_quiet() -> None:
    """Start equal to end switches quiet hours off."""
    assert quiet_until(utc(2026, 11, 23, 3, 0), ZoneInfo("UTC"), MORNING, MORNING) is None


def test_unknown_timezones_fall_back() -> None:
    """An unknown member zone falls back to the community's, then to UTC."""
    assert zone("Asia/Tokyo", "UTC") == ZoneInfo("Asia/Tokyo")
    assert zone("Mars/Olympus", "Europe/Berlin") == BERLIN
    assert zone(None, "Europe/Berlin") == BERLIN
    assert zone("Mars/Olympus", "Venus/Maxwell") == ZoneInfo("UTC")


def test_only_quiet_hours_leave_a_verdict_sendable() -> None:
    """Quiet hours delay a delivery; every other rule blocks it."""
    assert Verdict().sendable and Verdict(QUIET, NOW).sendable
    assert not any(Verdict(rule).sendable for rule in (NO_CONSENT, UNREACHABLE, CAPPED, COOLDOWN))


# -- the policy over a real store -----------------------------------------------------------


async def _setup(cohort: Cohort) -> tuple[CommunityInfo, dict[str, MemberInfo]]:
    """g1 with u1, u3 (DMs on), u2 (profiling only), u4 (DMs refused); a catalog."""
    await load_catalog(cohort)
    await write(
        cohort,
        consent("u1", True, True),
        consent("u2", True, None),
        consent("u3", None, True),
        consent("u4", True, False),
    )
    return await _load(cohort)


async def _load(cohort: Cohort) -> tuple[CommunityInfo, dict[str, MemberInfo]]:
    async with cohort.store.read() as conn:
        community = await find_community(conn, "discord", "g1")
        members = {}
        for name in ("u1", "u2", "u3", "u4"):
            found = await find_member(conn, "discord", name)
            assert found is not None
            members[name] = found
    assert community is not None
    return community, members


async def _promoted(
    cohort: Cohort,
    member: MemberInfo,
    course: str,
    when: datetime,
    *,
    purpose: str = "promotion",
    status: str | None = None,
) -> None:
    """A promotional DM queued for `member` at `when` (optionally forced to `status`)."""
    key = f"test:{member.id}:{course}:{when.isoformat()}:{purpose}"
    async with cohort.store.write() as conn:
        await outbox.enqueue(
            conn,
            [
                outbox.NewDelivery(
                    kind="dm",
                    purpose=purpose,
                    payload={},
                    dedupe_key=key,
                    member_id=member.id,
                    course_id=course,
                )
            ],
            when,
        )
        if status is not None:
            await conn.execute(
                update(s.outbox).where(s.outbox.c.dedupe_key == key).values(status=status)
            )


async def _check(
    cohort: Cohort,
    members: list[MemberInfo],
    community: CommunityInfo,
    course: str | None = "rust-101",
    now: datetime = NOW,
    *,
    promotion: bool = True,
) -> dict[int, Verdict]:
    policy = DeliveryPolicy(cohort.settings.delivery, cohort.gate)
    async with cohort.store.read() as conn:
        return await policy.check(conn, members, community, course, now, promotion=promotion)


async def _set_member(cohort: Cohort, member: MemberInfo, **values: Any) -> None:
    async with cohort.store.write() as conn:
        await conn.execute(update(s.members).where(s.members.c.id == member.id).values(**values))


async def test_only_members_who_opted_in_to_dms_here_may_be_messaged(cohort: Cohort) -> None:
    """Profiling consent, DM refusal or consent in another community do not allow a DM."""
    await write(cohort, consent("u2", True, True, community="g2"))  # DMs on, but elsewhere
    community, m = await _setup(cohort)
    verdicts = await _check(cohort, list(m.values()), community)
    assert verdicts[m["u1"].id] == Verdict() and verdicts[m["u3"].id] == Verdict()
    assert verdicts[m["u2"].id].blocked == NO_CONSENT
    assert verdicts[m["u4"].id].blocked == NO_CONSENT


async def test_dm_consent_withdrawn_blocks_at_once(cohort: Cohort) -> None:
    """A member who turns DMs off after opting in is no longer sendable."""
    community, m = await _setup(cohort)
    await write(cohort, consent("u1", None, False, ts=NOW))
    verdicts = await _check(cohort, [m["u1"]], community)
    assert verdicts[m["u1"].id].blocked == NO_CONSENT


async def test_unreachable_member_is_blocked(cohort: Cohort) -> None:
    """A member whose DMs were found closed is not messaged, even with consent."""
    community, m = await _setup(cohort)
    await _set_member(cohort, m["u1"], dm_unreachable_at=NOW - timedelta(days=3))
    community, m = await _load(cohort)
    verdicts = await _check(cohort, [m["u1"], m["u3"]], community)
    assert verdicts[m["u1"].id].blocked == UNREACHABLE
    assert verdicts[m["u3"].id].sendable


async def test_cap_counts_promotions_within_the_cap_window(cohort: Cohort) -> None:
    """One promotional DM in the last 7 days caps the member (default dm_cap 1 per 7 days)."""
    community, m = await _setup(cohort)
    await _promoted(cohort, m["u1"], "python-101", NOW - timedelta(days=6, hours=23))
    await _promoted(cohort, m["u3"], "python-101", NOW - timedelta(days=7, minutes=1))
    verdicts = await _check(cohort, [m["u1"], m["u3"]], community, "rust-101")
    assert verdicts[m["u1"].id].blocked == CAPPED
    assert verdicts[m["u3"].id] == Verdict()  # outside the window, and another course


async def test_cap_ignores_digests_and_failed_promotions(cohort: Cohort) -> None:
    """Only live promotional DMs count: a digest or a promotion that failed does not."""
    community, m = await _setup(cohort)
    await _promoted(cohort, m["u1"], "python-101", NOW - timedelta(days=1), purpose="digest")
    await _promoted(cohort, m["u3"], "python-101", NOW - timedelta(days=1), status=outbox.FAILED)
    verdicts = await _check(cohort, [m["u1"], m["u3"]], community, "rust-101")
    assert verdicts[m["u1"].id] == Verdict() and verdicts[m["u3"].id] == Verdict()


async def test_cap_is_per_person_across_linked_identities(cohort: Cohort) -> None:
    """A DM to someone's Telegram identity caps their Discord identity too."""
    await write(cohort, consent("t1", True, True, platform="telegram", community="-100"))
    community, m = await _setup(cohort)
    async with cohort.store.write() as conn:
        person = (await conn.execute(insert(s.persons).returning(s.persons.c.id))).scalar_one()
        await conn.execute(
            update(s.members)
            .where(s.members.c.platform_id.in_(["u1", "t1"]))
            .values(person_id=person)
        )
        telegram = await find_member(conn, "telegram", "t1")
    assert telegram is not None
    await _promoted(cohort, telegram, "python-101", NOW - timedelta(days=2))
    community, m = await _load(cohort)
    verdicts = await _check(cohort, [m["u1"], m["u3"]], community, "rust-101")
    assert verdicts[m["u1"].id].blocked == CAPPED
    assert verdicts[m["u3"].id] == Verdict()


async def test_cap_allows_up_to_dm_cap_promotions(cohort_with: MakeCohort) -> None:
    """With dm_cap 2, one earlier promotion still leaves room, two do not."""
    cohort = await cohort_with(delivery={"dm_cap": 2, "course_cooldown_days": 0})
    community, m = await _setup(cohort)
    await _promoted(cohort, m["u1"], "python-101", NOW - timedelta(days=1))
    await _promoted(cohort, m["u3"], "python-101", NOW - timedelta(days=1))
    await _promoted(cohort, m["u3"], "go-concurrency", NOW - timedelta(days=2))
    verdicts = await _check(cohort, [m["u1"], m["u3"]], community, "rust-101")
    assert verdicts[m["u1"].id] == Verdict()
    assert verdicts[m["u3"].id].blocked == CAPPED


async def test_cooldown_blocks_the_same_course_only(cohort_with: MakeCohort) -> None:
    """A course promoted 10 days ago is on cooldown (30 days); another course is not."""
    cohort = await cohort_with(delivery={"dm_cap": 5})
    community, m = await _setup(cohort)
    await _promoted(cohort, m["u1"], "rust-101", NOW - timedelta(days=10))
    same = await _check(cohort, [m["u1"]], community, "rust-101")
    other = await _check(cohort, [m["u1"]], community, "python-101")
    later = await _check(cohort, [m["u1"]], community, "rust-101", NOW + timedelta(days=21))
    assert same[m["u1"].id].blocked == COOLDOWN
    assert other[m["u1"].id] == Verdict()
    assert later[m["u1"].id] == Verdict()  # 31 days after: the cooldown is over


async def test_quiet_hours_use_member_timezone_else_community_timezone(cohort: Cohort) -> None:
    """14:00 UTC is 23:00 in Tokyo (quiet) and 09:00 in New York (the community's: not quiet)."""
    community, m = await _setup(cohort)
    async with cohort.store.write() as conn:
        await update_community(conn, community.id, {"timezone": "America/New_York"})
    await _set_member(cohort, m["u1"], timezone="Asia/Tokyo")
    await _set_member(cohort, m["u3"], timezone="Mars/Olympus")  # unknown: the community's
    community, m = await _load(cohort)
    afternoon = utc(2026, 11, 23, 14, 0)
    verdicts = await _check(cohort, [m["u1"], m["u3"]], community, now=afternoon)
    assert verdicts[m["u1"].id] == Verdict(QUIET, utc(2026, 11, 23, 23, 0))  # 08:00 in Tokyo
    assert verdicts[m["u1"].id].sendable
    assert verdicts[m["u3"].id] == Verdict()
    night = utc(2026, 11, 24, 4, 0)  # 23:00 in New York, 13:00 in Tokyo
    verdicts = await _check(cohort, [m["u1"], m["u3"]], community, now=night)
    assert verdicts[m["u1"].id] == Verdict()
    assert verdicts[m["u3"].id] == Verdict(QUIET, utc(2026, 11, 24, 13, 0))  # 08:00 EST


async def test_quiet_hours_come_after_consent_and_caps(cohort: Cohort) -> None:
    """At night a capped or non-consenting member is reported as blocked, not as deferred."""
    community, m = await _setup(cohort)
    await _promoted(cohort, m["u1"], "python-101", NOW - timedelta(days=1))
    night = utc(2026, 11, 23, 23, 0)
    verdicts = await _check(cohort, list(m.values()), community, now=night)
    assert verdicts[m["u1"].id].blocked == CAPPED
    assert verdicts[m["u2"].id].blocked == NO_CONSENT
    assert verdicts[m["u3"].id] == Verdict(QUIET, utc(2026, 11, 24, 8, 0))


async def test_non_promotional_messages_ignore_caps_and_cooldown(cohort: Cohort) -> None:
    """promotion=False (a digest) is bound by consent, reachability and quiet hours only."""
    community, m = await _setup(cohort)
    await _promoted(cohort, m["u1"], "rust-101", NOW - timedelta(days=1))
    await _set_member(cohort, m["u4"], dm_unreachable_at=NOW)
    await write(cohort, consent("u4", True, True, ts=NOW))
    community, m = await _load(cohort)
    verdicts = await _check(cohort, list(m.values()), community, None, promotion=False)
    assert verdicts[m["u1"].id] == Verdict()
    assert verdicts[m["u2"].id].blocked == NO_CONSENT
    assert verdicts[m["u4"].id].blocked == UNREACHABLE
    night = await _check(
        cohort, [m["u1"]], community, None, utc(2026, 11, 23, 22, 30), promotion=False
    )
    assert night[m["u1"].id] == Verdict(QUIET, utc(2026, 11, 24, 8, 0))
    promoted = await _check(cohort, [m["u1"]], community, "rust-101")
    assert promoted[m["u1"].id].blocked == CAPPED
