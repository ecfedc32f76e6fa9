"""`cohort funnel`: impressions → clicks → purchases per variant, intervals and the lift."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.app import Cohort
from bot.core.services.funnel import FunnelRow
from bot.core.services.suite import Services
from bot.core.stats import rate_difference, rate_ratio, wilson
from bot.domain.actors import Actor
from bot.errors import CohortError
from bot.store.communities import find_community
from bot.store.members import find_member
from bot.store.tracking import Shown, impression, record_feedback, record_impressions
from tests.core.services.conftest import NOW, load_catalog
from tests.helpers import consent, purchase, write

PERSONAL = ["p1", "p2", "p3", "p4"]
HOLDOUT = ["h1", "h2"]


def ago(days: float) -> datetime:
    """A time before NOW."""
    return NOW - timedelta(days=days)


async def row_ids(cohort: Cohort, names: list[str]) -> dict[str, int]:
    """Consenting Discord members in g1, by name; their row ids."""
    await write(cohort, *(consent(name, True, True, ts=ago(90)) for name in names))
    found = {}
    async with cohort.store.read() as conn:
        community = await find_community(conn, "discord", "g1")
        assert community is not None
        for name in names:
            member = await find_member(conn, "discord", name)
            assert member is not None
            found[name] = member.id
    found["community"] = community.id
    return found


async def show(
    cohort: Cohort, member: int | None, course: str, variant: str, ts: datetime, community: int
) -> str:
    """One impression; its token."""
    [shown] = await cohort.store.run_write(
        lambda conn: record_impressions(
            conn, [Shown(member, course, 1, variant, "discord", community)], ts
        )
    )
    return shown.token


async def web_click(cohort: Cohort, token: str, ts: datetime) -> None:
    """A click on the impression's tracking link."""
    async with cohort.store.read() as conn:
        shown = await impression(conn, token)
    assert shown is not None
    await cohort.store.run_write(
        lambda conn: record_feedback(conn, shown, "click", token, ts, "web")
    )


async def funnel_data(services: Services) -> None:
    """Personal picks to 4 members, the holdout's to 2, a channel pick; clicks and purchases."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    ids = await row_ids(cohort, PERSONAL + HOLDOUT + ["buyer"])
    g1 = ids["community"]
    p1 = await show(cohort, ids["p1"], "rust-101", "personal", ago(5), g1)
    await show(cohort, ids["p1"], "python-101", "personal", ago(5), g1)
    p2 = await show(cohort, ids["p2"], "go-concurrency", "personal", ago(4), g1)
    await show(cohort, ids["p3"], "rust-101", "personal", ago(4), g1)
    await show(cohort, ids["p4"], "k8s-ops", "personal", ago(40), g1)  # an older period
    await show(cohort, ids["h1"], "rust-101", "holdout", ago(3), g1)
    await show(cohort, ids["h2"], "rust-101", "holdout", ago(3), g1)
    channel = await show(cohort, None, "django-web", "channel", ago(2), g1)
    # p1's rust pick: clicked on the web twice and "Interested" in Discord: one clicked pick.
    await web_click(cohort, p1, ago(4.5))
    await web_click(cohort, p1, ago(4.4))
    actor = Actor("discord", "p1", "p1", "g1", "c1", "en")
    await services.feedback.pick(actor, "in", p1, "press-1")
    # p2 only pressed "Interested" (recorded through the live pipeline).
    await services.feedback.pick(Actor("discord", "p2", "p2", "g1", "c1", "en"), "in", p2, "x")
    await cohort.pipeline.flush()
    await write(
        cohort,
        purchase("p1", "rust-101", order="p1-rust", ts=ago(1)),
        purchase("p2", "go-concurrency", order="p2-go", ts=ago(1), token=p2),
        purchase("h1", "rust-101", order="h1-rust", ts=ago(1)),
        purchase("buyer", "modern-cpp", order="organic", ts=ago(1)),
        purchase("outsider", "django-web", order="from-channel", ts=ago(1), token=channel),
    )


def by_variant(rows: list[FunnelRow]) -> dict[str, FunnelRow]:
    """Rows keyed by variant."""
    return {row.variant: row for row in rows}


async def test_counts_per_variant(services: Services) -> None:
    """Impressions, clicked picks (once each), attributed purchases and members per variant."""
    await funnel_data(services)
    report = await services.funnel.report()
    assert report.attribution is not None and report.attribution.total == 5
    rows = by_variant(report.rows)
    assert set(rows) == {"personal", "holdout", "channel", "organic"}
    personal, holdout = rows["personal"], rows["holdout"]
    assert (personal.impressions, personal.clicked, personal.purchases) == (5, 2, 2)
    assert (personal.exposed_members, personal.converted_members) == (4, 2)
    assert (holdout.impressions, holdout.clicked, holdout.purchases) == (2, 0, 1)
    assert (holdout.exposed_members, holdout.converted_members) == (2, 1)
    channel = rows["channel"]
    assert (channel.impressions, channel.purchases, channel.exposed_members) == (1, 1, 0)
    assert rows["organic"].purchases == 1 and rows["organic"].impressions == 0
    assert personal.click_rate == wilson(2, 5)
    assert personal.purchase_rate == wilson(2, 5)
    assert personal.member_conversion == wilson(2, 4)
    assert rows["organic"].click_rate is None and rows["organic"].member_conversion is None


async def test_lift_of_personal_picks_over_the_holdout(services: Services) -> None:
    """The lift compares member conversion: a Newcombe difference and a Katz ratio."""
    await funnel_data(services)
    report = await services.funnel.report()
    [lift] = report.lifts
    assert (lift.name, lift.treatment, lift.control) == ("recommend", "personal", "holdout")
    assert lift.difference == rate_difference(2, 4, 1, 2)
    assert lift.ratio == rate_ratio(2, 4, 1, 2)
    assert lift.difference is not None and lift.difference.estimate == pytest.approx(0.0)
    assert lift.difference.low < 0 < lift.difference.high
    assert lift.note == ""
    data = report.to_dict()
    assert {v["variant"] for v in data["variants"]} == {"personal", "holdout", "channel", "organic"}
    assert data["lifts"][0]["difference"]["estimate"] == pytest.approx(0.0)
    assert data["attributed_now"] == {"by_token": 2, "last_touch": 2, "organic": 1}


async def test_a_period_counts_only_its_picks(services: Services) -> None:
    """`since` leaves out older impressions and the purchases they led to."""
    await funnel_data(services)
    await services.funnel.report()
    recent = await services.funnel.report(since=ago(10), attribute=False)
    assert recent.attribution is None
    rows = by_variant(recent.rows)
    assert rows["personal"].impressions == 4 and rows["personal"].exposed_members == 3


async def test_lift_needs_both_groups_and_a_buyer_for_the_ratio(services: Services) -> None:
    """Without a holdout there is no lift; with no holdout buyer only the difference."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    ids = await row_ids(cohort, ["p1", "h1"])
    await show(cohort, ids["p1"], "rust-101", "personal", ago(2), ids["community"])
    report = await services.funnel.report()
    [lift] = report.lifts
    assert lift.difference is None and lift.ratio is None
    assert lift.note == "not enough exposed members in both groups"
    await show(cohort, ids["h1"], "rust-101", "holdout", ago(2), ids["community"])
    await write(cohort, purchase("p1", "rust-101", order="o1", ts=ago(1)))
    [lift] = (await services.funnel.report()).lifts
    assert lift.difference == rate_difference(1, 1, 0, 1) and lift.ratio is None
    assert lift.note == "ratio undefined: a group has no buyer yet"


async def test_one_community_and_an_unknown_one(services: Services) -> None:
    """`community` limits the counts; an unknown community is a clear error."""
    cohort = services.context.cohort
    await funnel_data(services)
    await write(cohort, consent("t1", True, True, platform="telegram", community="-100"))
    async with cohort.store.read() as conn:
        group = await find_community(conn, "telegram", "-100")
        member = await find_member(conn, "telegram", "t1")
    assert group is not None and member is not None
    await show(cohort, member.id, "python-zh", "personal", ago(1), group.id)
    everywhere = by_variant((await services.funnel.report()).rows)
    assert everywhere["personal"].impressions == 6
    only = by_variant((await services.funnel.report(community="telegram:-100")).rows)
    assert set(only) == {"personal"} and only["personal"].impressions == 1
    discord = by_variant((await services.funnel.report(community="discord:g1")).rows)
    assert discord["personal"].impressions == 5
    with pytest.raises(CohortError, match="unknown community 'discord:nope'"):
        await services.funnel.report(community="discord:nope")


async def test_nothing_shown_yet(services: Services) -> None:
    """An empty store gives no rows and no lift."""
    report = await services.funnel.report()
    assert report.rows == [] and report.lifts == []
    assert report.to_dict()["variants"] == []
