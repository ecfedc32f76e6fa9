"""Attribution: which shown pick led to a purchase (token first, else last touch in a window)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.app import Cohort
from bot.core.services.suite import Services
from bot.store import links
from bot.store import schema as s
from bot.store.members import find_member
from bot.store.tracking import Impression, Shown, record_feedback, record_impressions
from tests.core.services.conftest import NOW, Clock, build_services, load_catalog
from tests.helpers import consent, purchase, rows, write

Make = Callable[..., Any]
ALICE, BOB, TG_ALICE = "1312345678901234567", "1398765432109876543", "5123456789"


def ago(days: float = 0, minutes: float = 0) -> datetime:
    """A time before NOW."""
    return NOW - timedelta(days=days, minutes=minutes)


async def members(cohort: Cohort) -> dict[str, int]:
    """Alice and Bob (Discord) and Alice's Telegram identity, consenting; row ids."""
    await load_catalog(cohort)
    await write(
        cohort,
        consent(ALICE, True, True, ts=ago(60)),
        consent(BOB, True, True, ts=ago(60)),
        consent(TG_ALICE, True, True, platform="telegram", community="-100", ts=ago(60)),
    )
    found = {}
    async with cohort.store.read() as conn:
        for name, platform, member in (
            ("alice", "discord", ALICE),
            ("bob", "discord", BOB),
            ("tg_alice", "telegram", TG_ALICE),
        ):
            row = await find_member(conn, platform, member)
            assert row is not None
            found[name] = row.id
    return found


async def show(
    cohort: Cohort,
    member: int | None,
    course: str,
    ts: datetime,
    *,
    variant: str = "personal",
    position: int = 1,
) -> Shown:
    """Record one impression at `ts`; returns it with its token."""
    [shown] = await cohort.store.run_write(
        lambda conn: record_impressions(
            conn, [Shown(member, course, position, variant, "discord")], ts
        )
    )
    return shown


async def click(cohort: Cohort, shown: Shown, ts: datetime) -> None:
    """A click on the impression's tracking link at `ts`."""
    impression = await _impression(cohort, shown.token)
    await cohort.store.run_write(
        lambda conn: record_feedback(conn, impression, "click", shown.token, ts, "web")
    )


async def _impression(cohort: Cohort, token: str) -> Impression:
    rows_ = await rows(
        cohort,
        select(
            s.interactions.c.id,
            s.interactions.c.member_id,
            s.interactions.c.course_id,
            s.interactions.c.community_id,
            s.interactions.c.channel_id,
            s.interactions.c.variant,
            s.interactions.c.position,
            s.interactions.c.source,
        ).where(s.interactions.c.token == token, s.interactions.c.kind == "impression"),
    )
    return Impression(*rows_[0], url=None)


async def touch_id(cohort: Cohort, token: str, kind: str = "impression") -> int:
    """The row id of the impression (or click) carrying `token`."""
    [(found,)] = await rows(
        cohort,
        select(s.interactions.c.id).where(
            s.interactions.c.token == token, s.interactions.c.kind == kind
        ),
    )
    return int(found)


async def attributed(cohort: Cohort, order: str) -> tuple[int | None, str | None, int | None]:
    """(attributed_to, variant, position) of a purchase by its order id."""
    i = s.interactions.c
    [row] = await rows(
        cohort,
        select(i.attributed_to, i.variant, i.position).where(
            i.kind == "purchase", i.dedupe_key.like(f"%:{order}")
        ),
    )
    return row[0], row[1], row[2]


async def test_a_token_ties_a_purchase_to_its_impression(services: Services) -> None:
    """A purchase carrying a pick's token is credited to it, whoever buys."""
    cohort = services.context.cohort
    ids = await members(cohort)
    shown = await show(cohort, ids["alice"], "rust-101", ago(3), variant="holdout", position=2)
    await write(cohort, purchase("someone-else", "rust-101", order="o1", token=shown.token, ts=NOW))
    report = await services.attribution.run()
    assert (report.by_token, report.last_touch, report.organic) == (1, 0, 0)
    assert await attributed(cohort, "o1") == (
        await touch_id(cohort, shown.token),
        "holdout",
        2,
    )


async def test_a_token_for_another_course_or_too_old_does_not_count(services: Services) -> None:
    """The token's course must match and the impression be within the window."""
    cohort = services.context.cohort
    ids = await members(cohort)
    other_course = await show(cohort, ids["bob"], "python-101", ago(1))
    too_old = await show(cohort, ids["bob"], "go-concurrency", ago(15))
    await write(
        cohort,
        purchase(BOB, "rust-101", order="wrong-course", token=other_course.token, ts=NOW),
        purchase(BOB, "go-concurrency", order="too-old", token=too_old.token, ts=NOW),
    )
    report = await services.attribution.run()
    assert (report.by_token, report.last_touch, report.organic) == (0, 0, 2)
    assert await attributed(cohort, "wrong-course") == (None, "organic", None)
    assert await attributed(cohort, "too-old") == (None, "organic", None)


async def test_the_window_follows_the_setting(
    cohort_with: Make, clock: Clock, tmp_path: Path
) -> None:
    """`[recommend] attribution_days` sets the window."""
    cohort = await cohort_with(recommend={"attribution_days": 3})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    ids = await members(cohort)
    await show(cohort, ids["alice"], "rust-101", ago(4))
    await show(cohort, ids["bob"], "rust-101", ago(2))
    await write(cohort, purchase(ALICE, "rust-101", order="a", ts=NOW))
    await write(cohort, purchase(BOB, "rust-101", order="b", ts=NOW))
    report = await services.attribution.run()
    assert (report.last_touch, report.organic) == (1, 1)
    assert (await attributed(cohort, "a"))[1] == "organic"
    assert (await attributed(cohort, "b"))[1] == "personal"


async def test_last_touch_is_the_buyers_latest_impression_or_click(services: Services) -> None:
    """Without a token the buyer's latest touch of that course in the window gets the credit."""
    cohort = services.context.cohort
    ids = await members(cohort)
    first = await show(cohort, ids["alice"], "rust-101", ago(10), position=3)
    await show(cohort, ids["alice"], "rust-101", ago(6), variant="digest:personal", position=1)
    await click(cohort, first, ago(2))  # the latest touch: a click on the first pick
    await show(cohort, ids["alice"], "python-101", ago(1))  # another course
    await show(cohort, ids["bob"], "rust-101", ago(0, 30), variant="holdout")  # someone else
    await show(cohort, ids["alice"], "rust-101", NOW + timedelta(hours=1), variant="later")
    await write(cohort, purchase(ALICE, "rust-101", order="o1", ts=NOW))
    report = await services.attribution.run()
    assert (report.by_token, report.last_touch, report.organic) == (0, 1, 0)
    assert await attributed(cohort, "o1") == (
        await touch_id(cohort, first.token, "click"),
        "personal",
        3,
    )


async def test_a_touch_a_few_minutes_after_the_purchase_still_counts(services: Services) -> None:
    """A few minutes of clock skew between shop and bot are tolerated."""
    cohort = services.context.cohort
    ids = await members(cohort)
    shown = await show(cohort, ids["alice"], "rust-101", NOW + timedelta(minutes=3))
    await write(cohort, purchase(ALICE, "rust-101", order="o1", ts=NOW))
    await services.attribution.run()
    assert (await attributed(cohort, "o1"))[0] == await touch_id(cohort, shown.token)


async def test_a_purchase_outside_the_window_is_organic(services: Services) -> None:
    """A touch more than `attribution_days` (14) before the purchase earns nothing."""
    cohort = services.context.cohort
    ids = await members(cohort)
    await show(cohort, ids["alice"], "rust-101", ago(15))
    await show(cohort, ids["bob"], "rust-101", ago(13))
    await write(
        cohort,
        purchase(ALICE, "rust-101", order="late", ts=NOW),
        purchase(BOB, "rust-101", order="in-time", ts=NOW),
    )
    report = await services.attribution.run()
    assert (report.last_touch, report.organic) == (1, 1)
    assert await attributed(cohort, "late") == (None, "organic", None)
    assert (await attributed(cohort, "in-time"))[1] == "personal"


async def test_a_linked_identitys_touch_counts_for_the_person(services: Services) -> None:
    """A purchase on Discord is credited to the pick shown to the linked Telegram identity."""
    cohort = services.context.cohort
    ids = await members(cohort)
    shown = await show(cohort, ids["tg_alice"], "k8s-ops", ago(2), variant="digest:personal")
    await write(cohort, purchase(ALICE, "k8s-ops", order="before-link", ts=ago(1)))
    assert (await services.attribution.run()).organic == 1
    async with cohort.store.write() as conn:
        await links.link(conn, ids["alice"], ids["tg_alice"], ago(1))
    await write(cohort, purchase(ALICE, "k8s-ops", order="after-link", ts=NOW))
    report = await services.attribution.run()
    assert (report.last_touch, report.organic) == (1, 0)
    assert await attributed(cohort, "after-link") == (
        await touch_id(cohort, shown.token),
        "digest:personal",
        1,
    )
    assert (await attributed(cohort, "before-link"))[1] == "organic"  # looked at once


async def test_a_channel_pick_is_credited_only_through_its_token(services: Services) -> None:
    """Impressions shown to a channel (no member) are matched by token, never by buyer."""
    cohort = services.context.cohort
    await members(cohort)
    shown = await show(cohort, None, "django-web", ago(1), variant="channel")
    await write(
        cohort,
        purchase(ALICE, "django-web", order="no-token", ts=NOW),
        purchase(BOB, "django-web", order="with-token", ts=NOW, token=shown.token),
    )
    report = await services.attribution.run()
    assert (report.by_token, report.last_touch, report.organic) == (1, 0, 1)
    assert (await attributed(cohort, "no-token"))[1] == "organic"
    assert await attributed(cohort, "with-token") == (
        await touch_id(cohort, shown.token),
        "channel",
        1,
    )


async def test_each_purchase_is_looked_at_once(services: Services) -> None:
    """A second run changes nothing: every purchase has a variant after the first."""
    cohort = services.context.cohort
    ids = await members(cohort)
    await show(cohort, ids["alice"], "rust-101", ago(1))
    await write(
        cohort,
        purchase(ALICE, "rust-101", order="o1", ts=NOW),
        purchase(BOB, "rust-101", order="o2", ts=NOW),
    )
    first = await services.attribution.run()
    assert (first.last_touch, first.organic) == (1, 1)
    i = s.interactions.c
    before = await rows(cohort, select(i.id, i.attributed_to, i.variant).order_by(i.id))
    # A touch that appears later does not re-open an organic purchase.
    await show(cohort, ids["bob"], "rust-101", ago(0, 1))
    second = await services.attribution.run()
    assert second.total == 0
    after = await rows(
        cohort,
        select(i.id, i.attributed_to, i.variant).where(i.kind == "purchase").order_by(i.id),
    )
    assert [r for r in before if r in after] == after
    assert all(variant is not None for _, _, variant in after)


async def test_more_purchases_than_a_batch_are_all_attributed(services: Services) -> None:
    """Purchases are attributed batch by batch until none is pending."""
    cohort = services.context.cohort
    ids = await members(cohort)
    shown = await show(cohort, ids["alice"], "rust-101", ago(1))
    await write(
        cohort,
        *(
            purchase(BOB if n % 2 else ALICE, "rust-101", order=f"bulk-{n}", ts=NOW)
            for n in range(1201)
        ),
        purchase(BOB, "rust-101", order="by-token", ts=NOW, token=shown.token),
    )
    report = await services.attribution.run()
    assert report.total == 1202
    assert (report.by_token, report.last_touch, report.organic) == (1, 601, 600)
    i = s.interactions.c
    pending = await rows(cohort, select(i.id).where(i.kind == "purchase", i.variant.is_(None)))
    assert pending == []
    assert (await services.attribution.run()).total == 0
