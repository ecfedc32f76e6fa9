"""`/recommend`: personal picks, the holdout, channel picks for non-consenting members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from bot.core.services.recommend import CHANNEL, HOLDOUT, PERSONAL, UNTRAINED, in_holdout
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.store import schema as s
from bot.store.members import find_member
from tests.core.services.conftest import import_community, load_catalog, train_model
from tests.helpers import consent, count, message, purchase, rows, write


async def test_trained_member_gets_personal_picks_with_reasons_and_buttons(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """A consenting member gets private picks from the model, each recorded as an impression."""
    cohort = sqlite_services.context.cohort
    await load_catalog(cohort)
    community = await import_community(cohort, tmp_path)
    await train_model(sqlite_services)
    member = next(m for m in community.members if m.profiling)
    actor = Actor(
        "discord", member.id, member.name, community.id, next(iter(community.channels)), "en"
    )
    reply = await sqlite_services.recommend.recommend(actor)
    assert reply.private and reply.title == "Your course picks"
    impressions = await rows(
        cohort,
        select(s.interactions.c.variant, s.interactions.c.token, s.interactions.c.member_id).where(
            s.interactions.c.kind == "impression"
        ),
    )
    assert len(impressions) == len(reply.blocks[0].items)  # type: ignore[union-attr]
    variant = impressions[0][0]
    assert variant in (PERSONAL, HOLDOUT) and all(r[2] is not None for r in impressions)
    actions = [b.action for b in reply.all_buttons() if b.action]
    assert {f"in:{r[1]}" for r in impressions} <= set(actions)
    assert {f"no:{r[1]}" for r in impressions} <= set(actions)


async def test_member_without_consent_gets_channel_picks_and_an_optin_button(
    services: Services,
) -> None:
    """No consent: picks for the channel, nothing stored under the member, an opt-in button."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(cohort, message(member="u7", text="rust tokio async borrow checker lifetimes"))
    actor = Actor("discord", "u7", "bob", "g1", "c1", "en")
    reply = await services.recommend.recommend(actor)
    assert reply.title == "Picks for this channel" and reply.private
    assert "optin:g1" in [b.action for b in reply.all_buttons()]
    assert not [b for b in reply.all_buttons() if b.action and b.action.startswith("in:")]
    impressions = await rows(
        cohort,
        select(s.interactions.c.member_id, s.interactions.c.variant).where(
            s.interactions.c.kind == "impression"
        ),
    )
    assert impressions and {r[0] for r in impressions} == {None}
    assert {r[1] for r in impressions} == {CHANNEL}
    assert await count(cohort, s.members, s.members.c.platform_id == "u7") == 0


async def test_untrained_picks_are_popular_courses_minus_owned_and_dismissed(
    services: Services,
) -> None:
    """Untrained: popularity, minus courses owned by any linked identity or dismissed."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(
        cohort,
        consent("u1", True, True),
        consent("u2", True, True),
        consent("t1", True, True, platform="telegram", community="-100"),
        message(member="u1"),
        message(member="t1", platform="telegram", community="-100", channel="-100"),
        purchase("u2", "rust-101"),
        purchase("u2", "rust-101", order="o2"),
        purchase("t1", "python-101", platform="telegram"),
    )
    async with cohort.store.write() as conn:
        person = (await conn.execute(insert(s.persons).returning(s.persons.c.id))).scalar_one()
        await conn.execute(
            update(s.members)
            .where(s.members.c.platform_id.in_(["u1", "t1"]))
            .values(person_id=person)
        )
    actor = Actor("discord", "u1", "alice", "g1", "c1", "en")
    variant, choices = await services.recommend.choices_for(
        await _member(services, "u1"), 10, actor=actor
    )
    courses = [c.course for c in choices]
    assert variant in (UNTRAINED, HOLDOUT)
    assert courses[0] == "rust-101"  # the most bought
    assert "python-101" not in courses  # owned by the linked Telegram identity
    reply = await services.recommend.recommend(actor)
    token = next(b.action for b in reply.all_buttons() if b.action and b.action.startswith("no:"))
    await services.feedback.pick(actor, "no", token.removeprefix("no:"), "i-1")
    await cohort.pipeline.flush()
    dismissed = (
        await rows(
            cohort, select(s.interactions.c.course_id).where(s.interactions.c.kind == "dismiss")
        )
    )[0][0]
    _, again = await services.recommend.choices_for(await _member(services, "u1"), 10, actor=actor)
    assert dismissed not in [c.course for c in again]


def test_holdout_assignment_is_stable_and_close_to_the_share() -> None:
    """The same key always lands the same way; about `share` of keys are held out."""
    keys = [f"m{i}" for i in range(20_000)]
    first = [in_holdout(key, 0.1) for key in keys]
    assert first == [in_holdout(key, 0.1) for key in keys]
    assert 0.09 < sum(first) / len(keys) < 0.11
    assert not any(in_holdout(key, 0.0) for key in keys[:1000])


async def test_holdout_members_get_popularity_and_are_recorded_as_holdout(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """A member drawn into the holdout sees popular picks; others personal ones."""
    cohort = sqlite_services.context.cohort
    await load_catalog(cohort)
    community = await import_community(cohort, tmp_path)
    await train_model(sqlite_services)
    variants = {}
    for member in [m for m in community.members if m.profiling]:
        stored = await _member(sqlite_services, member.id)
        key = f"m{stored.id}"
        variant, choices = await sqlite_services.recommend.choices_for(stored, 3)
        variants[member.id] = variant
        assert variant == (HOLDOUT if in_holdout(key, 0.1) else PERSONAL)
        if variant == HOLDOUT:
            assert {c.reason.kind for c in choices} == {"popular"}
    assert PERSONAL in variants.values()


async def _member(services: Services, platform_id: str) -> Any:
    async with services.context.store.read() as conn:
        found = await find_member(conn, "discord", platform_id)
    assert found is not None
    return found
