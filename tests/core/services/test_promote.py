"""`/promote`: moderators only, a preview first, a confirmed send queued once, all audited."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from bot.core.delivery.dispatcher import Dispatcher
from bot.core.services.promote import RULES, Audience, PromotionError
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.domain.events import MemberLeft
from bot.domain.replies import Reply
from bot.i18n import segment_name, translator
from bot.store import outbox
from bot.store import schema as s
from bot.store.audiences import dm_audience
from bot.store.communities import CommunityInfo, find_community
from bot.store.members import MemberInfo, find_member, members_by_ids
from tests.core.services.conftest import (
    NOW,
    Clock,
    import_community,
    load_catalog,
    train_model,
)
from tests.fakes.transport import RecordingTransport
from tests.helpers import consent, count, message, rows, write

MOD = Actor("discord", "mod1", "Mod", "g1", "c1", "en", roles=("Moderator",))
OTHER_MOD = Actor("discord", "mod2", "Other", "g1", "c1", "en", is_admin=True)
MEMBER = Actor("discord", "u1", "alice", "g1", "c1", "en", roles=("Member",))


async def _community(services: Services) -> None:
    """Catalog; g1 with u1..u4 opted in to DMs, u5 profiling only; a few messages in c1."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(
        cohort,
        *(consent(f"u{n}", True, True) for n in range(1, 5)),
        consent("u5", True, None),
        message(member="u1", text="rust tokio async rust borrow checker rust tokio", ts=NOW),
        message(member="u5", text="tokio async runtimes and rust lifetimes", ts=NOW),
    )


async def _member(services: Services, platform_id: str) -> MemberInfo:
    async with services.context.store.read() as conn:
        found = await find_member(conn, "discord", platform_id)
    assert found is not None
    return found


async def _set_member(services: Services, platform_id: str, **values: Any) -> None:
    async with services.context.store.write() as conn:
        await conn.execute(
            update(s.members).where(s.members.c.platform_id == platform_id).values(**values)
        )


def _draft(reply: Reply) -> str:
    """The draft id carried by the preview's Confirm button."""
    [action] = [
        b.action
        for b in reply.all_buttons()
        if b.action and b.action.startswith("pr:") and b.action != "pr:cancel"
    ]
    return action.removeprefix("pr:")


def _text(reply: Reply) -> str:
    return reply.plain()


async def _audit(services: Services) -> list[Any]:
    return await rows(
        services.context.cohort,
        select(s.audit_log.c.action, s.audit_log.c.outcome, s.audit_log.c.details).order_by(
            s.audit_log.c.id
        ),
    )


async def _promotions(services: Services) -> list[Any]:
    o = s.outbox.c
    return await rows(
        services.context.cohort,
        select(o.member_id, o.kind, o.status, o.next_attempt_at, o.dedupe_key, o.payload)
        .where(o.purpose == "promotion")
        .order_by(o.member_id),
    )


# -- permission ------------------------------------------------------------------------------


async def test_non_moderators_are_refused_and_audited(services: Services) -> None:
    """A member without a moderator role gets a clear refusal; the attempt is audited."""
    await _community(services)
    reply = await services.promote.preview(MEMBER, "rust-101", "opted-in")
    assert reply.private and _text(reply) == "Only moderators and admins can do this."
    assert not reply.all_buttons()
    elsewhere = Actor("discord", "mod1", "Mod", None, None, "en", roles=("Moderator",))
    reply = await services.promote.preview(elsewhere, "rust-101", "opted-in")
    assert _text(reply) == "Use this command inside the community."
    reply = await services.promote.confirm(MEMBER, "1")
    assert _text(reply) == "Only moderators and admins can do this."
    audit = await _audit(services)
    assert [(a[0], a[1]) for a in audit] == [("promote", "denied")] * 3
    assert audit[0][2]["reason"] == "only moderators and admins can do this"
    assert await count(services.context.cohort, s.outbox) == 0


# -- previews --------------------------------------------------------------------------------


async def test_preview_counts_blocked_members_per_rule_and_quiet_hours(
    services: Services, clock: Clock
) -> None:
    """Audience, capped, unreachable and night-time members are counted; nothing is queued."""
    await _community(services)
    await services.promote.send(
        await services.promote.plan(await _g1(services), "python-101", Audience("opted-in"))
    )
    await write(services.context.cohort, consent("u6", True, True), consent("u7", True, True))
    await _set_member(services, "u6", dm_unreachable_at=NOW)
    await _set_member(services, "u7", timezone="Asia/Tokyo")
    clock.now = NOW + timedelta(days=1, hours=2)  # 23:00 in Tokyo
    before = await count(services.context.cohort, s.outbox)
    reply = await services.promote.preview(MOD, "rust-101", "opted-in")
    text = _text(reply)
    assert reply.private and reply.title
    assert "Preview: 6 members in the audience, 5 blocked, about 0.1 clicks expected." in text
    assert "Blocked by frequency caps: 4" in text
    assert "Blocked: DMs closed: 1" in text
    assert "Blocked by quiet hours: 1" in text  # 23:00 in Tokyo: deferred, not dropped
    assert await count(services.context.cohort, s.outbox) == before
    action, outcome, details = (await _audit(services))[-1]
    assert (action, outcome) == ("promote.preview", "ok")
    assert details["audience_size"] == 6 and details["deferred"] == 1
    assert details["deliverable"] == 0 and details["blocked_capped"] == 4
    assert details["blocked_unreachable"] == 1 and details["course"] == "rust-101"


async def test_plan_as_dict_is_a_json_summary(services: Services) -> None:
    """The --dry-run --json summary: audience as a string, its size as an int, the counts."""
    await _community(services)
    plan = await services.promote.plan(await _g1(services), "rust-101", Audience.parse("opted-in"))
    summary = plan.as_dict()
    assert summary["audience"] == "opted-in" and isinstance(summary["audience"], str)
    assert summary["audience_size"] == 4 and isinstance(summary["audience_size"], int)
    assert summary["deliverable"] == 4 and summary["deferred"] == 0
    assert summary["course"] == "rust-101" and summary["community"] == "discord:g1"
    assert summary["predicted_clicks"] == 0.2  # 4 x a 5 % prior click rate
    assert len(summary["campaign"]) == 16 and summary["channel_topics"] == []
    assert {key: n for key, n in summary.items() if key.startswith("blocked_")} == {
        "blocked_no_consent": 0,
        "blocked_unreachable": 0,
        "blocked_capped": 0,
        "blocked_cooldown": 0,
    }


@pytest.mark.parametrize(
    ("course", "audience", "expected"),
    [
        ("nope-999", "opted-in", "unknown or inactive course 'nope-999'"),
        ("rust101", "opted-in", "unknown or inactive course 'rust101' (did you mean rust-101?)"),
        ("rust-101", "channel:c404", "unknown channel 'c404' in discord:g1"),
        ("rust-101", "segment:newcomers", "segments need a trained model: run `cohort train`"),
        ("rust-101", "top:5", "top:N needs a trained model: run `cohort train`"),
        ("rust-101", "top:0", "top:N needs a number from 1 to 100000"),
        ("rust-101", "everyone", "use channel:<id>, segment:<id or name>, top:<N> or opted-in"),
    ],
)
async def test_bad_requests_get_a_one_line_error(
    sqlite_services: Services, course: str, audience: str, expected: str
) -> None:
    """Unknown course, channel, audience, or no model yet: one clear line, nothing sent."""
    await _community(sqlite_services)
    reply = await sqlite_services.promote.preview(MOD, course, audience)
    text = _text(reply)
    assert expected in text and "\n" not in text and reply.private
    assert not reply.all_buttons()
    assert await count(sqlite_services.context.cohort, s.outbox) == 0
    with pytest.raises(PromotionError):
        await sqlite_services.promote.plan(
            await _g1(sqlite_services), course, Audience.parse(audience)
        )


def test_audience_parsing_round_trips() -> None:
    """Each audience form parses and prints back the same way."""
    for text in ("opted-in", "channel:c1", "segment:newcomers", "segment:2", "top:10"):
        assert str(Audience.parse(text)) == text
    assert Audience.parse(" TOP:3 ") == Audience("top", "3")
    for bad in ("top:x", "top:100001", "channel:", "segment", "opted-in:x"):
        with pytest.raises(PromotionError):
            Audience.parse(bad)


# -- confirming and sending --------------------------------------------------------------------


async def test_confirm_queues_each_member_once_and_is_audited(
    services: Services, clock: Clock
) -> None:
    """Confirm sends the previewed campaign; a second confirm or preview queues nothing new."""
    await _community(services)
    await _set_member(services, "u4", timezone="Asia/Tokyo")
    clock.now = NOW + timedelta(hours=2)  # 23:00 in Tokyo
    draft = _draft(await services.promote.preview(MOD, "rust-101", "opted-in"))
    reply = await services.promote.confirm(MOD, draft)
    assert (
        _text(reply) == "Queued for 4 members. /promote status shows what was sent."
        and reply.private
    )
    promotions = await _promotions(services)
    u4 = await _member(services, "u4")
    assert len(promotions) == 4 and {p[1] for p in promotions} == {"dm"}
    assert {p[2] for p in promotions} == {"pending"}
    deferred = {p[0]: p[3] for p in promotions}
    assert deferred[u4.id] == NOW + timedelta(hours=11)  # 08:00 in Tokyo
    assert all(when == clock.now for member, when in deferred.items() if member != u4.id)
    u5 = await _member(services, "u5")
    assert u5.id not in deferred  # profiling consent only: never a DM

    again = await services.promote.confirm(MOD, draft)
    assert _text(again) == "Queued for 0 members. /promote status shows what was sent."
    clock.advance(minutes=5)
    draft2 = _draft(await services.promote.preview(MOD, "rust-101", "opted-in"))
    await services.promote.confirm(MOD, draft2)
    assert len(await _promotions(services)) == 4
    sends = [a for a in await _audit(services) if a[0] == "promote.send"]
    assert [a[1] for a in sends] == ["queued"] * 3
    assert [a[2]["queued"] for a in sends] == [4, 0, 0]
    assert sends[0][2]["by"] == "moderator"

    transport = RecordingTransport()
    await Dispatcher(services.context, transport).drain()
    assert len(transport.sent) == 3  # u4 waits for the morning
    payload = promotions[0][5]
    assert payload["impressions"][0]["variant"] == "promotion"
    labels = [b.label for b in transport.sent[0].reply.all_buttons()]
    assert labels == ["Interested", "Learn more"]


async def test_confirm_by_someone_else_or_too_late_has_expired(
    services: Services, clock: Clock
) -> None:
    """Only the preview's author may confirm it, within 30 minutes."""
    await _community(services)
    draft = _draft(await services.promote.preview(MOD, "rust-101", "opted-in"))
    expired = "This preview has expired: run /promote again."
    assert _text(await services.promote.confirm(OTHER_MOD, draft)) == expired
    assert _text(await services.promote.confirm(MOD, "999999")) == expired
    assert _text(await services.promote.confirm(MOD, "not-a-number")) == expired
    clock.advance(minutes=30, seconds=1)
    assert _text(await services.promote.confirm(MOD, draft)) == expired
    assert await count(services.context.cohort, s.outbox) == 0
    assert _text(await services.promote.confirm(MOD, "cancel")) == "Cancel"
    clock.advance(minutes=1)
    fresh = _draft(await services.promote.preview(MOD, "rust-101", "opted-in"))
    clock.advance(minutes=30)
    assert (
        _text(await services.promote.confirm(MOD, fresh))
        == "Queued for 4 members. /promote status shows what was sent."
    )


async def test_a_draft_from_another_community_cannot_be_confirmed(services: Services) -> None:
    """A preview made in g2 is not sent to g1's audience by pressing its button in g1."""
    await _community(services)
    await write(services.context.cohort, consent("u9", True, True, community="g2"))
    elsewhere = Actor("discord", "mod1", "Mod", "g2", "c9", "en", roles=("Moderator",))
    draft = _draft(await services.promote.preview(elsewhere, "rust-101", "opted-in"))
    reply = await services.promote.confirm(MOD, draft)
    assert _text(reply) == "This preview has expired: run /promote again."
    assert await count(services.context.cohort, s.outbox) == 0


# -- audiences ---------------------------------------------------------------------------------


async def test_channel_audience_posts_once_framed_by_the_channel_topics(
    services: Services,
) -> None:
    """channel:<id>: one post in that channel, opening with what the channel talks about."""
    await _community(services)
    plan = await services.promote.plan(
        await _g1(services), "rust-async", Audience.parse("channel:c1")
    )
    assert plan.channel_terms[:2] == ["rust", "tokio"] and len(plan.channel_terms) == 3
    assert plan.as_dict()["channel_topics"] == plan.channel_terms
    assert plan.counts() == {
        "audience": 1,
        "deliverable": 1,
        "deferred": 0,
        "blocked_no_consent": 0,
        "blocked_unreachable": 0,
        "blocked_capped": 0,
        "blocked_cooldown": 0,
    }
    draft = _draft(await services.promote.preview(MOD, "rust-async", "channel:c1"))
    assert (
        _text(await services.promote.confirm(MOD, draft))
        == "Queued for the channel. /promote status shows when it is posted."
    )
    await services.promote.confirm(MOD, draft)
    [post] = await _promotions(services)
    assert post[0] is None and post[1] == "channel"
    assert post[5]["recipient"] == "c1"
    transport = RecordingTransport()
    await Dispatcher(services.context, transport).drain()
    [sent] = transport.sent
    assert sent.kind == "channel" and sent.recipient == "c1"
    intro = sent.reply.plain().splitlines()[1]
    assert intro == f"You often discuss {', '.join(plan.channel_terms)}."
    impressions = await rows(
        services.context.cohort,
        select(s.interactions.c.member_id, s.interactions.c.variant, s.interactions.c.channel_id),
    )
    assert [(i[0], i[1]) for i in impressions] == [(None, "promotion:channel")]
    assert impressions[0][2] is not None


async def test_segment_and_top_audiences_use_the_model_and_still_need_consent(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """Segments by id, name or rule and top:N come from the model; DMs only to DM opt-ins."""
    services = sqlite_services
    cohort = services.context.cohort
    generated, place = await _trained_community(services, tmp_path)
    bundle = services.context.models.get()
    assert bundle is not None
    models = bundle.communities[place.ref]
    assert models.segments is not None
    segment = models.segments.describe()[0]
    left = await _left(services, generated)
    in_segment = {
        int(m) for m, seg in models.segments.assignments().items() if seg == segment.id
    } - left
    async with cohort.store.read() as conn:
        dm_ok = set(await dm_audience(conn, place.id))

    for value in (str(segment.id), segment.name.upper()):
        plan = await services.promote.plan(place, "rust-async", Audience("segment", value))
        assert {m.id for m in plan.members} == in_segment
        blocked = {m for m, v in plan.verdicts.items() if v.blocked == "no_consent"}
        assert blocked == in_segment - dm_ok
        assert plan.counts().get("blocked_no_consent", 0) == len(in_segment - dm_ok)
    rule = await services.promote.plan(place, "rust-async", Audience("segment", "champions"))
    assert {m.id for m in rule.members} == {int(m) for m in models.rules["champions"]} - left
    with pytest.raises(PromotionError, match="unknown segment 'nobody'"):
        await services.promote.plan(place, "rust-async", Audience("segment", "nobody"))

    # While typing, a moderator is offered every segment, and each offer plans as is.
    admin = Actor("discord", "boss", "Boss", generated.id, None, "en", is_admin=True)
    offered = await services.promote.suggest(admin, "audience", "Segment")
    assert [o.value for o in offered] == [
        *(f"segment:{seg.id}" for seg in models.segments.describe()),
        *(f"segment:{rule}" for rule in RULES),
    ]
    assert offered[0].label.startswith(f"Segment: {segment.name}"[:90])
    for offer in offered:
        await services.promote.plan(place, "rust-async", Audience.parse(offer.value))

    top = await services.promote.plan(place, "rust-async", Audience("top", "3"))
    assert len(top.members) == 3 and {m.id for m in top.members} <= dm_ok
    everyone = await services.promote.plan(place, "rust-async", Audience("top", "1000"))
    assert len(everyone.members) <= len(dm_ok)
    assert [m.id for m in everyone.members][:3] == [m.id for m in top.members]

    # A member who objects to profiling after training is no longer targeted by the model.
    target = top.members[0]
    await write(
        cohort,
        consent(target.platform_id, False, None, community=generated.id, ts=NOW),
    )
    again = await services.promote.plan(place, "rust-async", Audience("top", "3"))
    assert target.id not in {m.id for m in again.members} and len(again.members) == 3
    objector_segment = await services.promote.plan(
        place, "rust-async", Audience("segment", "champions")
    )
    assert target.id not in {m.id for m in objector_segment.members}

    # Nor is a member who has left the community since.
    by_id = await _by_id(services, sorted(in_segment - {target.id}))
    leaver = by_id[min(by_id)]
    await write(
        cohort,
        MemberLeft(platform="discord", community=generated.id, member=leaver.platform_id, ts=NOW),
    )
    after = await services.promote.plan(place, "rust-async", Audience("segment", str(segment.id)))
    assert {m.id for m in after.members} == in_segment - {target.id, leaver.id}


async def test_segment_labels_are_in_the_moderators_language(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """A Chinese-speaking moderator is offered Chinese segment names, and either name plans."""
    services = sqlite_services
    generated, place = await _trained_community(services, tmp_path)
    model = await services.context.models.current()
    assert model is not None
    models = model.community(place.ref)
    assert models is not None and models.segments is not None
    described = models.segments.describe()
    t = translator("zh_Hans")
    chinese = Actor("discord", "boss", "Boss", generated.id, None, "zh-CN", is_admin=True)

    offered = await services.promote.suggest(chinese, "audience", "")
    labels = {o.value: o.label for o in offered}
    for segment in described:
        label = labels[f"segment:{segment.id}"]
        assert segment_name(t, segment) in label and segment.name not in label
        members = {
            int(m) for m, seg in models.segments.assignments().items() if seg == segment.id
        } - await _left(services, generated)
        for name in (segment_name(t, segment), segment.name):
            plan = await services.promote.plan(place, "rust-async", Audience("segment", name))
            assert {m.id for m in plan.members} == members
    english = Actor("discord", "boss", "Boss", generated.id, None, "en", is_admin=True)
    labels = {o.value: o.label for o in await services.promote.suggest(english, "audience", "")}
    assert all(segment.name in labels[f"segment:{segment.id}"] for segment in described)


async def _left(services: Services, generated: Any) -> set[int]:
    """Row ids of the synthetic members who left the community (no longer targeted)."""
    async with services.context.store.read() as conn:
        found = [await find_member(conn, "discord", m.id) for m in generated.members if m.left]
    return {member.id for member in found if member is not None}


async def _by_id(services: Services, ids: list[int]) -> dict[int, MemberInfo]:
    async with services.context.store.read() as conn:
        return await members_by_ids(conn, ids)


async def _g1(services: Services) -> CommunityInfo:
    async with services.context.store.read() as conn:
        found = await find_community(conn, "discord", "g1")
    assert found is not None
    return found


async def _trained_community(services: Services, tmp_path: Path) -> tuple[Any, CommunityInfo]:
    """A 30-member community imported with the demo catalog, and a model trained on it."""
    await load_catalog(services.context.cohort)
    generated = await import_community(services.context.cohort, tmp_path, members=30)
    await train_model(services)
    return generated, await _place(services, generated.id)


async def _place(services: Services, platform_id: str) -> CommunityInfo:
    async with services.context.store.read() as conn:
        found = await find_community(conn, "discord", platform_id)
    assert found is not None
    return found


async def test_suggestions_match_what_is_typed_and_only_for_moderators(
    services: Services,
) -> None:
    """Courses by id or title, case-insensitively; audiences without a model; members get none."""
    await _community(services)
    courses = await services.promote.suggest(MOD, "course", "TOKIO")
    assert [(c.label, c.value) for c in courses] == [
        ("Async Rust with Tokio (rust-async)", "rust-async")
    ]
    assert [c.value for c in await services.promote.suggest(MOD, "course", "")] == sorted(
        c.value for c in await services.promote.suggest(OTHER_MOD, "course", "")
    )
    audiences = [a.value for a in await services.promote.suggest(MOD, "audience", "")]
    assert audiences == ["opted-in", "top:10", "top:50", "top:100", "channel:c1"]
    assert await services.promote.suggest(MOD, "audience", "top:0") == []
    assert await services.promote.suggest(MEMBER, "course", "rust") == []
    assert await services.promote.suggest(MOD, "nonsense", "") == []
    assert await count(services.context.cohort, s.audit_log) == 0


async def test_operator_send_without_actor_is_audited_as_operator(services: Services) -> None:
    """The CLI sends as the operator: queued and audited with by=operator."""
    await _community(services)
    plan = await services.promote.plan(await _g1(services), "rust-101", Audience("opted-in"))
    reply = await services.promote.send(plan)
    assert _text(reply) == "Queued for 4 members. /promote status shows what was sent."
    [(action, outcome, details)] = await _audit(services)
    assert (action, outcome, details["by"], details["queued"]) == (
        "promote.send",
        "queued",
        "operator",
        4,
    )
    counts = await _counts(services, plan.campaign)
    assert counts == {outbox.PENDING: 4}


async def _counts(services: Services, campaign: str) -> dict[str, int]:
    async with services.context.store.read() as conn:
        return await outbox.counts(conn, campaign=campaign)
