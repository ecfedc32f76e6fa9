"""Digests: schedule in the community's timezone, once per period and recipient, resumable."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.core.delivery.dispatcher import LEASE, Dispatcher
from bot.core.services.digest import GRACE, STALE, DigestService, trending_terms
from bot.core.services.recommend import Choice, RecommendService
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.domain.replies import Reply
from bot.store import outbox, runs
from bot.store import schema as s
from bot.store.communities import CommunityInfo, find_community, update_community
from bot.store.members import MemberInfo, find_member
from tests.core.services.conftest import (
    NOW,
    Clock,
    import_community,
    load_catalog,
    train_model,
)
from tests.fakes.transport import RecordingTransport
from tests.helpers import consent, message, rows, write

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # the default cron's period at NOW (UTC)


def utc(*args: int) -> datetime:
    """An aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def place(timezone: str = "UTC", cron: str | None = None, channel: str | None = None) -> Any:
    """A community description (no row needed for schedule arithmetic)."""
    return CommunityInfo(1, "discord", "g1", "Guild", timezone, None, cron, channel)


# -- schedule ---------------------------------------------------------------------------------


def test_period_and_next_fire_in_utc(sqlite_services: Services) -> None:
    """Default cron (Monday 09:00): at Monday noon the period is 09:00, the next one a week on."""
    digest = sqlite_services.digest
    assert digest.period(place(), NOW) == MONDAY_9
    assert digest.period(place(), MONDAY_9) == MONDAY_9  # a fire time is its own period
    assert digest.period(place(), MONDAY_9 - timedelta(seconds=1)) == MONDAY_9 - timedelta(days=7)
    assert digest.next_fire(place(), NOW) == MONDAY_9 + timedelta(days=7)
    assert digest.period(place(), NOW, timedelta(hours=1)) is None  # nothing in the last hour
    custom = place(cron="30 18 * * *")  # the community's own schedule wins
    assert digest.period(custom, NOW) == utc(2026, 11, 22, 18, 30)
    assert digest.next_fire(custom, NOW) == utc(2026, 11, 23, 18, 30)


def test_period_follows_the_community_timezone_across_dst(sqlite_services: Services) -> None:
    """09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer, across the switch."""
    digest, berlin = sqlite_services.digest, place("Europe/Berlin")
    assert digest.period(berlin, NOW) == utc(2026, 11, 23, 8, 0)
    assert digest.period(berlin, utc(2026, 6, 1, 12, 0)) == utc(2026, 6, 1, 7, 0)
    assert digest.period(berlin, utc(2026, 3, 30, 12, 0)) == utc(2026, 3, 30, 7, 0)  # CEST
    assert digest.period(berlin, utc(2026, 3, 30, 6, 59)) == utc(2026, 3, 23, 8, 0)  # CET
    assert digest.next_fire(berlin, utc(2026, 3, 24)) == utc(2026, 3, 30, 7, 0)
    assert digest.next_fire(berlin, utc(2026, 10, 20)) == utc(2026, 10, 26, 8, 0)
    assert digest.period(place("Asia/Shanghai"), NOW) == utc(2026, 11, 23, 1, 0)


def _bounded(work: Any, seconds: float = 20.0) -> Any:
    """Run `work()` in a daemon thread; fail (not hang) if it never returns."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "schedule arithmetic did not terminate"
    return out[0]


def test_a_local_time_repeated_when_dst_ends_fires_once(sqlite_services: Services) -> None:
    """Daily 02:30 in Berlin: on 25 Oct 2026 that time happens twice; one period, no hang."""
    digest, nightly = sqlite_services.digest, place("Europe/Berlin", "30 2 * * *")
    first = utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    assert _bounded(lambda: digest.period(nightly, utc(2026, 10, 25, 12, 0))) == first
    assert _bounded(lambda: digest.period(nightly, utc(2026, 10, 25, 1, 45))) == first
    assert digest.next_fire(nightly, utc(2026, 10, 25, 0, 31)) == utc(2026, 10, 26, 1, 30)
    assert digest.period(nightly, utc(2026, 10, 26, 12, 0)) == utc(2026, 10, 26, 1, 30)
    skipped = place("Europe/Berlin", "30 2 * * *")  # 02:30 does not exist on 29 Mar: once
    fires = [digest.period(skipped, utc(2026, 3, day, 12, 0)) for day in (28, 29, 30)]
    assert len(set(fires)) == 3 and all(fire is not None for fire in fires)


async def test_due_skips_periods_missed_by_more_than_the_grace(services: Services) -> None:
    """A digest missed by more than 12 hours (the bot was down) is not sent late."""
    await write(services.context.cohort, consent("u1", True, True))
    digest = services.digest
    [(community, period)] = await digest.due(MONDAY_9 + GRACE)
    assert community.platform_id == "g1" and period == MONDAY_9
    assert await digest.due(MONDAY_9 + GRACE + timedelta(seconds=1)) == []
    assert await digest.due(MONDAY_9 - timedelta(seconds=1)) == []  # last week's: long gone


# -- runs ---------------------------------------------------------------------------------------


async def _community(services: Services, *, channel: str | None = "c1") -> CommunityInfo:
    """g1 with u1, u2 opted in (profiling and DMs), u3 profiling only; a catalog."""
    cohort = services.context.cohort
    await load_catalog(cohort)
    await write(
        cohort,
        consent("u1", True, True),
        consent("u2", True, True),
        consent("u3", True, None),
    )
    return await _g1(services, digest_channel=channel)


async def _g1(services: Services, **changes: Any) -> CommunityInfo:
    async with services.context.store.write() as conn:
        community = await find_community(conn, "discord", "g1")
        assert community is not None
        if changes:
            await update_community(conn, community.id, changes)
            community = await find_community(conn, "discord", "g1")
    assert community is not None
    return community


async def _digest_rows(services: Services) -> list[Any]:
    o = s.outbox.c
    return await rows(
        services.context.cohort,
        select(o.dedupe_key, o.kind, o.member_id, o.next_attempt_at, o.run_id, o.payload)
        .where(o.purpose == "digest")
        .order_by(o.id),
    )


async def _member_id(services: Services, platform_id: str) -> int:
    async with services.context.store.read() as conn:
        found = await find_member(conn, "discord", platform_id)
    assert found is not None
    return found.id


async def test_run_queues_channel_and_personal_digests_once(services: Services) -> None:
    """A run queues the channel post and one DM per opted-in member; a rerun does nothing."""
    community = await _community(services)
    report = await services.digest.run(community, MONDAY_9)
    assert report.claimed and not report.resumed and report.channel_post
    assert report.personal == 2 and report.deferred == 0
    queued = await _digest_rows(services)
    key = f"digest:{community.id}:{MONDAY_9.isoformat()}"
    assert sorted(r[0] for r in queued) == sorted(
        [
            f"{key}:channel",
            f"{key}:{await _member_id(services, 'u1')}",
            f"{key}:{await _member_id(services, 'u2')}",
        ]
    )
    assert {r[4] for r in queued} == {report.run_id}
    personal = next(r for r in queued if r[1] == "dm")
    assert personal[5]["reply"]["title"] == "Your course picks"
    assert len(personal[5]["impressions"]) == 3
    again = await services.digest.run(community, MONDAY_9)
    assert not again.claimed and again.personal == 0 and not again.channel_post
    assert len(await _digest_rows(services)) == 3
    assert await services.digest.due(NOW) == []
    [status] = await rows(services.context.cohort, select(s.scheduled_runs.c.status))
    assert status[0] == runs.DONE


async def test_two_instances_racing_deliver_once(services: Services) -> None:
    """Two instances running the same digest at once: one claims it, the other does nothing."""
    community = await _community(services)
    other = DigestService(services.context, services.recommend, instance="second")
    first, second = await asyncio.gather(
        services.digest.run(community, MONDAY_9), other.run(community, MONDAY_9)
    )
    assert sorted([first.claimed, second.claimed]) == [False, True]
    assert first.personal + second.personal == 2
    assert len(await _digest_rows(services)) == 3
    [owner] = await rows(services.context.cohort, select(s.scheduled_runs.c.claimed_by))
    assert owner[0] == ("cohort" if first.claimed else "second")


class Crashing(RecommendService):
    """A recommender that fails (the instance dies) after `survive` members' picks."""

    def __init__(self, services: Services, survive: int) -> None:
        super().__init__(services.context)
        self.survive = survive
        self.calls = 0

    async def choices_for(
        self, member: MemberInfo | None, count: int, *, actor: Actor | None = None
    ) -> tuple[str, list[Choice]]:
        """Picks until the budget runs out, then an error (the process 'dies')."""
        self.calls += 1
        if self.calls > self.survive:
            raise RuntimeError("instance killed")
        return await super().choices_for(member, count, actor=actor)


class Counting(RecommendService):
    """A recommender that counts whose picks it was asked for."""

    def __init__(self, services: Services) -> None:
        super().__init__(services.context)
        self.asked: list[int] = []

    async def choices_for(
        self, member: MemberInfo | None, count: int, *, actor: Actor | None = None
    ) -> tuple[str, list[Choice]]:
        """Record the member and answer as usual."""
        assert member is not None
        self.asked.append(member.id)
        return await super().choices_for(member, count, actor=actor)


async def test_interrupted_digest_resumes_after_stale_and_queues_only_the_rest(
    services: Services, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Crash after 2 of 5 DMs: nothing happens before STALE; then the rest, each once."""
    community = await _community(services)
    await write(services.context.cohort, *(consent(f"u{n}", True, True) for n in range(4, 7)))
    monkeypatch.setattr("bot.core.services.digest.CHUNK", 2)
    crashing = DigestService(services.context, Crashing(services, 2), instance="dead")
    with pytest.raises(RuntimeError, match="instance killed"):
        await crashing.run(community, MONDAY_9)
    before = await _digest_rows(services)
    assert sorted(r[1] for r in before) == ["channel", "dm", "dm"]
    [run] = await rows(services.context.cohort, select(s.scheduled_runs))
    assert (run.status, run.claimed_by) == (runs.CLAIMED, "dead")

    # A sender took one of the queued DMs and died mid-send: it must never be resent.
    async with services.context.store.write() as conn:
        [lost] = await outbox.claim(
            conn, clock.now, holder="dead:1:x", lease=LEASE, limit=1, run_id=run.id
        )
        assert await outbox.mark_attempted(conn, lost.id, "dead:1:x", "discord", clock.now)

    counting = Counting(services)
    fresh = DigestService(services.context, counting, instance="fresh")
    clock.advance(seconds=STALE.total_seconds() - 1)
    assert await fresh.due(clock.now) == []
    report = await fresh.run(community, MONDAY_9)
    assert not report.claimed and len(await _digest_rows(services)) == 3

    clock.advance(seconds=1)
    assert [c.id for c, _ in await fresh.due(clock.now)] == [community.id]
    report = await fresh.run(community, MONDAY_9)
    assert report.claimed and report.resumed and report.run_id == run.id
    assert report.personal == 3 and not report.channel_post  # the post was queued already
    already = {r[2] for r in before if r[2] is not None}
    assert not already & set(counting.asked) and len(counting.asked) == 3
    after = await _digest_rows(services)
    keys = Counter(r[0] for r in after)
    assert len(after) == 6 and set(keys.values()) == {1}
    audience = {await _member_id(services, f"u{n}") for n in (1, 2, 4, 5, 6)}
    assert {r[2] for r in after if r[1] == "dm"} == audience
    [status] = await rows(
        services.context.cohort, select(s.scheduled_runs.c.status, s.scheduled_runs.c.claimed_by)
    )
    assert tuple(status) == (runs.DONE, "fresh")
    assert await fresh.due(clock.now) == []

    clock.advance(minutes=10)
    transport = RecordingTransport()
    report_sent = await Dispatcher(services.context, transport).drain(run_id=run.id)
    assert report_sent.uncertain == 1 and report_sent.sent == 5
    assert lost.id not in {d.id for d in transport.sent}
    assert Counter(d.recipient for d in transport.sent if d.kind == "dm").most_common(1)[0][1] == 1


async def test_personal_digest_only_for_dm_opt_ins_who_did_not_object(
    services: Services,
) -> None:
    """DMs only to members who opted in to DMs and still consent to being profiled."""
    community = await _community(services, channel=None)
    await write(
        services.context.cohort,
        consent("u4", True, True),
        consent("u5", True, True),
        consent("u4", None, False, ts=NOW - timedelta(hours=1)),  # DMs off again
        consent("u5", False, None, ts=NOW - timedelta(hours=1)),  # objected to profiling
    )
    report = await services.digest.run(community, MONDAY_9)
    assert not report.channel_post and report.personal == 2
    assert report.skipped == {"no_consent": 1}
    recipients = {r[2] for r in await _digest_rows(services)}
    assert recipients == {await _member_id(services, "u1"), await _member_id(services, "u2")}


async def test_personal_digests_can_be_switched_off(services: Services) -> None:
    """personal=False queues the channel post only."""
    community = await _community(services)
    report = await services.digest.run(community, MONDAY_9, personal=False)
    assert report.channel_post and report.personal == 0
    assert [r[1] for r in await _digest_rows(services)] == ["channel"]


async def test_quiet_hours_defer_personal_digests(services: Services, clock: Clock) -> None:
    """A member for whom it is night gets the digest at 08:00 local time, not never."""
    community = await _community(services)
    async with services.context.store.write() as conn:
        await conn.execute(
            update(s.members).where(s.members.c.platform_id == "u2").values(timezone="Asia/Tokyo")
        )
    clock.now = utc(2026, 11, 23, 14, 0)  # 23:00 in Tokyo
    report = await services.digest.run(community, MONDAY_9)
    assert report.personal == 2 and report.deferred == 1
    when = {r[2]: r[3] for r in await _digest_rows(services) if r[1] == "dm"}
    assert when[await _member_id(services, "u2")] == utc(2026, 11, 23, 23, 0)
    assert when[await _member_id(services, "u1")] == clock.now


# -- content -------------------------------------------------------------------------------------


def test_trending_terms_favour_growth_weighted_by_volume() -> None:
    """New or growing terms rank first; rare terms (< 3) and shrinking ones trail or drop."""
    this_week = Counter({"rust": 10, "tokio": 6, "python": 12, "go": 2, "wasm": 3})
    last_week = Counter({"rust": 1, "python": 30, "tokio": 0})
    assert trending_terms(this_week, last_week) == ["tokio", "rust", "wasm", "python"]
    assert trending_terms(this_week, last_week, top=2) == ["tokio", "rust"]
    assert trending_terms(Counter({"a1": 5, "b1": 5}), Counter()) == ["a1", "b1"]  # ties: a-z
    assert trending_terms(Counter(), Counter({"rust": 4})) == []


async def test_channel_digest_quotes_only_members_who_still_consent(
    services: Services,
) -> None:
    """Most discussed: replied-to messages of consenting members; an objector's are left out."""
    community = await _community(services)
    week = MONDAY_9 - timedelta(days=2)
    await write(
        services.context.cohort,
        consent("u4", True, True),
        message(member="u1", message="q1", text="How do I share state in tokio?", ts=week),
        message(member="u4", message="q4", text="Secret plans of u4 for rust", ts=week),
        message(member="u2", message="r1", text="Use an Arc", reply_to="q1", ts=week),
        *(
            message(member="u2", message=f"r4-{n}", text="reply", reply_to="q4", ts=week)
            for n in range(3)
        ),
        message(member="u1", message="old", text="Last month's question", ts=week - timedelta(8)),
        message(member="u2", message="r-old", text="ok", reply_to="old", ts=week),
        consent("u4", False, None, ts=NOW - timedelta(hours=1)),
    )
    async with services.context.store.write() as conn:
        await conn.execute(
            update(s.courses)
            .values(created_at=NOW - timedelta(days=60))
            .where(s.courses.c.id != "rust-async")
        )
        await conn.execute(
            update(s.courses)
            .values(created_at=MONDAY_9 - timedelta(days=3))
            .where(s.courses.c.id == "rust-async")
        )
        await conn.execute(  # added after the period: new in next week's digest, not this one
            update(s.courses)
            .values(created_at=MONDAY_9 + timedelta(hours=1))
            .where(s.courses.c.id == "python-101")
        )
    reply = await services.digest.channel_digest(community, MONDAY_9)
    text = reply.plain()
    assert reply.title == "This week in g1"
    assert "Most discussed" in text and "How do I share state in tokio? (1)" in text
    assert "Secret plans" not in text  # u4 objected: not quoted, however replied-to
    assert "Last month" not in text  # before the week
    lines = text.splitlines()
    assert lines[lines.index("New courses") + 1 :][:2] == ["- Async Rust with Tokio"]

    await services.digest.run(community, MONDAY_9, personal=False)
    [post] = await _digest_rows(services)
    assert post[1] == "channel" and post[5]["recipient"] == "c1"


async def test_channel_digest_names_helpers_only_while_they_consent(
    sqlite_services: Services, tmp_path: Path
) -> None:
    """Top helpers are thanked by name; one who opted out after training is not named."""
    services = sqlite_services
    cohort = services.context.cohort
    await load_catalog(cohort)
    generated = await import_community(cohort, tmp_path, members=30)
    await train_model(services)
    async with cohort.store.read() as conn:
        community = await find_community(conn, "discord", generated.id)
    assert community is not None
    before = _helpers(await services.digest.channel_digest(community, NOW))
    assert before, "the synthetic community has helpers"
    async with cohort.store.read() as conn:
        named = (
            await conn.execute(
                select(s.members.c.platform_id).where(s.members.c.display_name == before[0])
            )
        ).scalar_one()
    await write(cohort, consent(named, False, None, community=generated.id, ts=NOW))
    after = _helpers(await services.digest.channel_digest(community, NOW))
    assert before[0] not in after
    assert after and set(after) - set(before)  # the next helper moves up


def _helpers(reply: Reply) -> list[str]:
    for line in reply.plain().splitlines():
        if line.startswith("Thanks to our top helpers "):
            return line.removeprefix("Thanks to our top helpers ").split(", ")
    return []


async def test_channel_digest_without_activity_still_says_something(services: Services) -> None:
    """An empty week still gives a post with a title."""
    community = await _community(services)
    async with services.context.store.write() as conn:
        await conn.execute(update(s.courses).values(created_at=NOW - timedelta(days=60)))
    reply = await services.digest.channel_digest(community, MONDAY_9)
    assert reply.title == "This week in g1" and reply.blocks
    total = await rows(services.context.cohort, select(func.count()).select_from(s.outbox))
    assert total[0][0] == 0


# -- moderators: /digest preview and /digest now ------------------------------------------------

MOD = Actor("discord", "mod", "Mod", "g1", "c1", "en", is_admin=True)
MEMBER = Actor("discord", "u1", "One", "g1", "c1", "en")


async def test_digest_preview_shows_the_post_and_where_it_goes_without_queueing(
    services: Services,
) -> None:
    """/digest preview: the channel post, its channel and audience; nothing queued or claimed."""
    await _community(services)
    reply = await services.digest.moderate(MOD, "preview")
    text = reply.plain()
    assert reply.private and reply.title and reply.title.startswith("Digest preview")
    assert "channel c1" in text and "up to 2 members" in text
    assert "Next scheduled digest: 2026-11-30 09:00 UTC" in text
    assert await _digest_rows(services) == []
    assert await rows(services.context.cohort, select(s.scheduled_runs.c.id)) == []


async def test_digest_now_queues_the_current_period_once_and_audits_it(
    services: Services,
) -> None:
    """/digest now queues this period's digest; again says it was sent; the schedule skips it."""
    community = await _community(services)
    first = await services.digest.moderate(MOD, "now")
    assert "queued: the channel post and 2 personal digests" in first.plain()
    keys = sorted(r[0] for r in await _digest_rows(services))
    assert keys[0].startswith(f"digest:{community.id}:{MONDAY_9.isoformat()}") and len(keys) == 3
    again = await services.digest.moderate(MOD, "now")
    assert "already sent" in again.plain() and len(await _digest_rows(services)) == 3
    assert await services.digest.due(NOW) == []  # the scheduler will not send it again
    a = s.audit_log.c
    audited = await rows(
        services.context.cohort,
        select(a.action, a.outcome, a.target).where(a.action.like("digest%")),
    )
    assert [tuple(r) for r in audited] == [("digest now", "queued", MONDAY_9.isoformat())]


async def test_digest_commands_are_for_moderators_only(services: Services) -> None:
    """A member gets the refusal (audited), a wrong action the usage; nothing is queued."""
    await _community(services)
    refused = await services.digest.moderate(MEMBER, "now")
    assert "Only moderators" in refused.plain()
    usage = await services.digest.moderate(MOD, "later")
    assert "Usage: /digest preview or /digest now" in usage.plain()
    assert await _digest_rows(services) == []
    assert [s_.value for s_ in await services.digest.suggest(MOD, "action", "p")] == ["preview"]
    assert await services.digest.suggest(MEMBER, "action", "") == []
