"""The dispatcher: claims, sends through transports, records outcomes at most once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import Cohort
from bot.core.delivery.dispatcher import DEFERRED_HORIZON, LEASE, Dispatcher
from bot.core.delivery.transport import Delivery, FileTransport, SendResult, SendStatus
from bot.core.services.suite import Services
from bot.domain.replies import Paragraph, Reply, reply_to_dict
from bot.store import outbox
from bot.store import schema as s
from bot.store.communities import find_community
from bot.store.members import find_member, mark_reachable, mark_unreachable
from tests.core.services.conftest import NOW, Clock, build_services, load_catalog
from tests.fakes.transport import RecordingTransport
from tests.helpers import consent, rows, write

MakeCohort = Callable[..., Awaitable[Cohort]]


async def _setup(cohort: Cohort) -> None:
    """Catalog, g1 (Discord) with u1 and u2 opted in to DMs, -100 (Telegram) with t1."""
    await load_catalog(cohort)
    await write(
        cohort,
        consent("u1", True, True),
        consent("u2", True, True),
        consent("t1", True, True, platform="telegram", community="-100"),
    )


async def _queue(
    services: Services,
    member: str,
    *,
    platform: str = "discord",
    community: str = "g1",
    course: str | None = "rust-101",
    token: str | None = None,
    not_before: Any = None,
    key: str | None = None,
    campaign: str | None = None,
) -> int:
    """Queue one DM for `member`; returns its outbox id."""
    cohort = services.context.cohort
    async with cohort.store.write() as conn:
        place = await find_community(conn, platform, community)
        target = await find_member(conn, platform, member)
        assert place is not None and target is not None
        reply = Reply((Paragraph.of(f"hello {member}"),), title="A course")
        impressions = (
            [{"course": course, "position": 1, "variant": "promotion", "token": token}]
            if token
            else []
        )
        dedupe = key or f"test:{member}:{token}:{not_before}:{campaign}"
        await outbox.enqueue(
            conn,
            [
                outbox.NewDelivery(
                    kind="dm",
                    purpose="promotion",
                    payload={
                        "platform": platform,
                        "recipient": member,
                        "community": community,
                        "reply": reply_to_dict(reply),
                        "impressions": impressions,
                    },
                    dedupe_key=dedupe,
                    community_id=place.id,
                    member_id=target.id,
                    course_id=course,
                    campaign=campaign,
                    not_before=not_before,
                )
            ],
            services.context.clock(),
        )
        found = await conn.scalar(select(s.outbox.c.id).where(s.outbox.c.dedupe_key == dedupe))
    assert found is not None
    return int(found)


async def _row(services: Services, delivery: int) -> Any:
    found = await rows(services.context.cohort, select(s.outbox).where(s.outbox.c.id == delivery))
    return found[0]


async def test_sent_delivery_is_recorded_with_its_impressions(services: Services) -> None:
    """SENT: the row is `sent` with a time, and each pick in the payload is an impression."""
    cohort = services.context.cohort
    await _setup(cohort)
    delivery = await _queue(services, "u1", token="tok-1")
    transport = RecordingTransport()
    report = await Dispatcher(services.context, transport).run_once()
    assert report.sent == 1 and report.handled == 1
    [sent] = transport.sent
    assert (sent.id, sent.kind, sent.recipient, sent.platform) == (delivery, "dm", "u1", "discord")
    assert sent.reply.plain() == "A course\nhello u1" and sent.attempt == 1
    row = await _row(services, delivery)
    assert (row.status, row.attempts, row.sent_at, row.next_attempt_at) == ("sent", 1, NOW, None)
    impressions = await rows(
        cohort,
        select(
            s.interactions.c.member_id,
            s.interactions.c.course_id,
            s.interactions.c.token,
            s.interactions.c.variant,
            s.interactions.c.source,
        ).where(s.interactions.c.kind == "impression"),
    )
    assert impressions == [(row.member_id, "rust-101", "tok-1", "promotion", "discord")]
    again = await Dispatcher(services.context, transport).run_once()
    assert again.handled == 0 and len(transport.sent) == 1


async def test_dm_to_a_member_who_withdrew_consent_since_queueing_is_cancelled(
    services: Services, clock: Clock
) -> None:
    """Queued for after quiet hours, then DM consent withdrawn: never sent, row cancelled."""
    cohort = services.context.cohort
    await _setup(cohort)
    withdrawn = await _queue(services, "u1", token="tok-u1", not_before=NOW + timedelta(hours=8))
    kept = await _queue(services, "u2", token="tok-u2", not_before=NOW + timedelta(hours=8))
    await write(cohort, consent("u1", True, False, ts=NOW + timedelta(hours=1)))
    clock.now = NOW + timedelta(hours=9)
    transport = RecordingTransport()
    report = await Dispatcher(services.context, transport).drain()
    assert [d.id for d in transport.sent] == [kept]
    assert (report.sent, report.cancelled) == (1, 1)
    row = await _row(services, withdrawn)
    assert (row.status, row.sent_at, row.last_error) == (
        outbox.CANCELLED,
        None,
        "no DM consent at send time",
    )
    tokens = await rows(
        cohort, select(s.interactions.c.token).where(s.interactions.c.kind == "impression")
    )
    assert tokens == [("tok-u2",)]
    assert (await Dispatcher(services.context, transport).drain()).handled == 0


async def test_unreachable_member_is_marked_and_never_tried_again(services: Services) -> None:
    """UNREACHABLE: row and member are marked; the member's other queued DMs are not sent."""
    cohort = services.context.cohort
    await _setup(cohort)
    first = await _queue(services, "u1", key="first")
    second = await _queue(services, "u1", key="second")
    other = await _queue(services, "u2", key="other")
    transport = RecordingTransport(SendResult(SendStatus.UNREACHABLE, error="DMs closed"))
    report = await Dispatcher(services.context, transport).drain()
    assert [d.id for d in transport.sent] == [first, other]
    assert report.sent == 1 and report.unreachable == 2
    assert (await _row(services, first)).status == outbox.UNREACHABLE
    assert (await _row(services, first)).last_error == "DMs closed"
    assert (await _row(services, second)).status == outbox.UNREACHABLE
    async with cohort.store.read() as conn:
        member = await find_member(conn, "discord", "u1")
    assert member is not None and member.dm_unreachable_at == NOW
    assert (await Dispatcher(services.context, transport).drain()).handled == 0
    assert len(transport.sent) == 2


async def test_dms_queued_before_a_member_was_found_unreachable_are_dropped(
    services: Services,
) -> None:
    """A member marked unreachable (by another pass) gets none of their queued DMs."""
    cohort = services.context.cohort
    await _setup(cohort)
    dropped = await _queue(services, "u1", key="old")
    async with cohort.store.write() as conn:
        member = await find_member(conn, "discord", "u1")
        assert member is not None
        await mark_unreachable(conn, member.id, NOW)
    transport = RecordingTransport()
    report = await Dispatcher(services.context, transport).run_once()
    assert report.unreachable == 1 and transport.sent == []
    row = await _row(services, dropped)
    assert (row.status, row.attempts) == (outbox.UNREACHABLE, 0)
    async with cohort.store.write() as conn:  # the member writes to the bot again
        await mark_reachable(conn, member.id)
    fresh = await _queue(services, "u1", key="new")
    assert (await Dispatcher(services.context, transport).drain()).sent == 1
    assert [d.id for d in transport.sent] == [fresh]


async def test_run_forever_sends_until_stopped(services: Services) -> None:
    """The long-running loop sends what is queued and ends when `stop` is set."""
    await _setup(services.context.cohort)
    await _queue(services, "u1")
    stop = asyncio.Event()

    class Stopping(RecordingTransport):
        async def send(self, delivery: Delivery) -> SendResult:
            stop.set()
            return await super().send(delivery)

    transport = Stopping()
    await asyncio.wait_for(Dispatcher(services.context, transport).run_forever(stop, 0.01), 10)
    assert len(transport.sent) == 1


async def test_retry_backs_off_then_fails_after_max_attempts(
    cohort_with: MakeCohort, clock: Clock, tmp_path: Path
) -> None:
    """RETRY waits 30 s, then 60 s (or the platform's retry_after); attempt 3 of 3 is FAILED."""
    cohort = await cohort_with(delivery={"max_attempts": 3})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    await _setup(cohort)
    delivery = await _queue(services, "u1")
    retry = SendResult(SendStatus.RETRY, None, "busy")
    transport = RecordingTransport(retry, SendResult(SendStatus.RETRY, 120.0, "slow down"), retry)
    dispatcher = Dispatcher(services.context, transport)

    assert (await dispatcher.run_once()).retried == 1
    row = await _row(services, delivery)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "busy")
    assert row.next_attempt_at == NOW + timedelta(seconds=30)
    clock.advance(seconds=29)
    assert (await dispatcher.run_once()).handled == 0  # not due yet
    clock.advance(seconds=1)
    assert (await dispatcher.run_once()).retried == 1
    row = await _row(services, delivery)
    assert row.attempts == 2 and row.next_attempt_at == clock.now + timedelta(seconds=120)
    clock.advance(seconds=120)
    report = await dispatcher.run_once()
    assert report.failed == 1 and report.errors == [f"{delivery}: busy"]
    row = await _row(services, delivery)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 3, None)
    clock.advance(hours=2)
    assert (await dispatcher.run_once()).handled == 0
    assert [d.attempt for d in transport.sent] == [1, 2, 3]


async def test_default_backoff_doubles(services: Services, clock: Clock) -> None:
    """Without retry_after, the wait doubles each attempt: 30 s, 60 s, 120 s."""
    await _setup(services.context.cohort)
    delivery = await _queue(services, "u1")
    retry = SendResult(SendStatus.RETRY)
    dispatcher = Dispatcher(services.context, RecordingTransport(retry, retry, retry))
    waits = []
    for _ in range(3):
        await dispatcher.run_once()
        row = await _row(services, delivery)
        waits.append(row.next_attempt_at - clock.now)
        clock.now = row.next_attempt_at
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]


async def test_transport_exception_makes_the_delivery_uncertain(services: Services) -> None:
    """A transport that raises may have sent: the row is uncertain and never sent again."""
    await _setup(services.context.cohort)
    delivery = await _queue(services, "u1")
    transport = RecordingTransport(RuntimeError("socket closed"))
    dispatcher = Dispatcher(services.context, transport)
    report = await dispatcher.run_once()
    assert report.uncertain == 1
    row = await _row(services, delivery)
    assert (row.status, row.last_error) == ("uncertain", "RuntimeError: socket closed")
    assert (await dispatcher.drain(deferred=True)).handled == 0
    assert [d.id for d in transport.sent] == [delivery]


async def _claim_as(
    services: Services, holder: str, *, attempted: bool, via: str = "discord"
) -> int:
    """Claim the first due row as `holder` (another dispatcher), optionally attempting it."""
    async with services.context.cohort.store.write() as conn:
        [claimed] = await outbox.claim(conn, NOW, holder=holder, lease=LEASE, limit=1)
        if attempted:
            assert await outbox.mark_attempted(conn, claimed.id, holder, via, NOW)
    return claimed.id


async def test_expired_lease_of_an_attempted_send_becomes_uncertain_and_is_never_resent(
    services: Services, clock: Clock
) -> None:
    """An attempted claim whose sender vanished is left alone within the lease, then uncertain."""
    cohort = services.context.cohort
    await _setup(cohort)
    delivery = await _queue(services, "u1")
    assert await _claim_as(services, "elsewhere:1:x", attempted=True) == delivery
    transport = RecordingTransport()
    dispatcher = Dispatcher(services.context, transport)
    clock.advance(minutes=4)
    report = await dispatcher.run_once()
    assert (report.handled, report.uncertain) == (0, 0)
    assert (await _row(services, delivery)).status == outbox.SENDING
    clock.advance(minutes=2)
    report = await dispatcher.run_once()
    assert report.uncertain == 1 and transport.sent == []
    clock.advance(days=1)
    assert (await dispatcher.drain(deferred=True)).handled == 0
    row = await _row(services, delivery)
    assert row.status == outbox.UNCERTAIN and "may have arrived" in row.last_error
    assert transport.sent == []


async def test_expired_claim_never_attempted_is_sent_by_the_next_pass(
    services: Services, clock: Clock
) -> None:
    """A claim whose sender vanished before the network call goes back to pending and is sent."""
    await _setup(services.context.cohort)
    delivery = await _queue(services, "u1")
    await _claim_as(services, "elsewhere:1:x", attempted=False)
    clock.advance(minutes=6)
    transport = RecordingTransport()
    report = await Dispatcher(services.context, transport).drain()
    assert (report.released, report.sent, report.uncertain) == (1, 1, 0)
    row = await _row(services, delivery)
    assert (row.status, row.attempts) == (outbox.SENT, 1)
    assert [d.id for d in transport.sent] == [delivery]


async def test_claims_of_a_dead_process_are_recovered_at_once(services: Services) -> None:
    """A holder whose pid is gone: unattempted claims are resent now, attempted ones uncertain."""
    import sys

    from bot.core.delivery import owners

    await _setup(services.context.cohort)
    first = await _queue(services, "u1", key="a")
    second = await _queue(services, "u2", key="b")
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await child.wait()  # reaped: its pid no longer exists
    dead = f"{owners.HOST}:{child.pid}:feed"
    await _claim_as(services, dead, attempted=True)
    await _claim_as(services, dead, attempted=False)
    transport = RecordingTransport()
    report = await Dispatcher(services.context, transport).drain()
    assert (report.uncertain, report.released, report.sent) == (1, 1, 1)
    assert [d.id for d in transport.sent] == [second]
    assert (await _row(services, first)).status == outbox.UNCERTAIN


async def test_deferred_drain_includes_deliveries_waiting_for_quiet_hours(
    services: Services,
) -> None:
    """A quiet-hours delivery is not due now; a deferred drain (file export) takes it."""
    await _setup(services.context.cohort)
    tonight = await _queue(services, "u1", not_before=NOW + timedelta(hours=8))
    far = await _queue(services, "u2", not_before=NOW + DEFERRED_HORIZON + timedelta(hours=1))
    transport = RecordingTransport()
    dispatcher = Dispatcher(services.context, transport)
    assert (await dispatcher.drain()).handled == 0
    report = await dispatcher.drain(deferred=True)
    assert report.sent == 1 and [d.id for d in transport.sent] == [tonight]
    assert (await _row(services, far)).status == outbox.PENDING


async def test_deliveries_without_a_transport_are_left_pending(services: Services) -> None:
    """With transports per platform, Telegram deliveries wait for an instance that has one."""
    await _setup(services.context.cohort)
    discord = await _queue(services, "u1")
    telegram = await _queue(services, "t1", platform="telegram", community="-100")
    transport = RecordingTransport()
    report = await Dispatcher(services.context, {"discord": transport}).drain()
    assert report.sent == 1 and [d.id for d in transport.sent] == [discord]
    row = await _row(services, telegram)
    assert (row.status, row.attempts) == (outbox.PENDING, 0)
    other = RecordingTransport()
    assert (await Dispatcher(services.context, {"telegram": other}).drain()).sent == 1
    assert [d.id for d in other.sent] == [telegram]


async def test_drain_only_takes_the_campaign_asked_for(services: Services) -> None:
    """drain(campaign=...) leaves other campaigns' deliveries queued."""
    await _setup(services.context.cohort)
    mine = await _queue(services, "u1", campaign="a")
    theirs = await _queue(services, "u2", campaign="b")
    transport = RecordingTransport()
    await Dispatcher(services.context, transport).drain(campaign="a")
    assert [d.id for d in transport.sent] == [mine]
    assert (await _row(services, theirs)).status == outbox.PENDING


# -- the send rate -------------------------------------------------------------------------


class Counting:
    """A limiter that lets everything through and counts the permits asked for."""

    def __init__(self) -> None:
        self.acquired = 0

    async def acquire(self) -> None:
        """Count one permit."""
        self.acquired += 1


async def test_every_send_takes_a_permit_of_the_global_rate(
    cohort_with: MakeCohort, clock: Clock, tmp_path: Path
) -> None:
    """send_rate 2: one limiter for all platforms, one permit every half second, one per send."""
    cohort = await cohort_with(delivery={"send_rate": 2.0})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    await _setup(cohort)
    await _queue(services, "u1", key="a")
    await _queue(services, "u2", key="b")
    await _queue(services, "t1", platform="telegram", community="-100", key="c")
    await _queue(services, "u1", key="d")
    transport = RecordingTransport()
    dispatcher = Dispatcher(services.context, {"discord": transport, "telegram": transport})
    assert (dispatcher.limiter.max_rate, dispatcher.limiter.time_period) == (1, 0.5)
    counting = Counting()
    dispatcher.limiter = counting  # type: ignore[assignment]
    report = await dispatcher.drain()
    assert report.sent == 4 and counting.acquired == 4


# -- several dispatchers -------------------------------------------------------------------


@pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_concurrent_claims_on_postgresql_skip_locked_rows(services: Services) -> None:
    """Two open claim transactions get disjoint rows, without waiting for each other."""
    cohort = services.context.cohort
    await _setup(cohort)
    for n in range(6):
        await _queue(services, "u1" if n % 2 else "u2", key=f"k{n}")
    async with cohort.store.write() as first, cohort.store.write() as second:
        mine = await outbox.claim(first, NOW, holder="a", lease=LEASE, limit=4)
        theirs = await asyncio.wait_for(
            outbox.claim(second, NOW, holder="b", lease=LEASE, limit=4), 10
        )
    assert len(mine) == 4 and len(theirs) == 2
    assert not {c.id for c in mine} & {c.id for c in theirs}


async def test_two_dispatchers_at_once_send_each_delivery_once(
    cohort_with: MakeCohort, clock: Clock, tmp_path: Path
) -> None:
    """Dispatchers running side by side never send the same row twice."""
    cohort = await cohort_with(delivery={"send_rate": 100.0})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    await _setup(cohort)
    queued = [await _queue(services, "u1" if n % 2 else "u2", key=f"k{n}") for n in range(20)]
    left, right = RecordingTransport(), RecordingTransport()

    async def drain(transport: RecordingTransport) -> None:
        dispatcher = Dispatcher(services.context, transport)
        for _ in range(100):
            if not (await dispatcher.run_once(limit=3)).handled:
                return
            await asyncio.sleep(0)  # let the other dispatcher claim in between

    await asyncio.gather(drain(left), drain(right))
    sent = [d.id for d in left.sent + right.sent]
    assert sorted(sent) == queued
    assert left.sent and right.sent  # they really did work side by side


# -- the file transport ----------------------------------------------------------------------


async def test_file_transport_writes_one_json_line_per_delivery(tmp_path: Path) -> None:
    """Each delivery is one JSON line: who, what, and the reply both as text and structure."""
    path = tmp_path / "out" / "deliveries.jsonl"
    transport = FileTransport(path)
    reply = Reply((Paragraph.of("Rust, 多线程"),), title="Picks")
    dm = Delivery(7, "dm", "promotion", "discord", "u1", "g1", reply, "rust-101", "c1")
    post = Delivery(8, "channel", "digest", "telegram", "-100", None, reply)
    assert await transport.send(dm) == SendResult(SendStatus.SENT)
    await transport.send(post)
    transport.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and transport.written == 2
    first, second = (json.loads(line) for line in lines)
    assert set(first) == {
        "delivery",
        "kind",
        "purpose",
        "to",
        "community",
        "course",
        "campaign",
        "text",
        "reply",
        "written_at",
    }
    assert (first["delivery"], first["to"], first["community"]) == (7, "discord:u1", "discord:g1")
    assert (first["course"], first["campaign"], first["purpose"]) == ("rust-101", "c1", "promotion")
    assert first["text"] == "Picks\nRust, 多线程" and "多线程" in lines[0]  # not \u-escaped
    assert first["reply"] == reply_to_dict(reply)
    assert (second["to"], second["community"], second["kind"]) == (
        "telegram:channel:-100",
        None,
        "channel",
    )
    FileTransport(path).close()  # closing an unused transport is harmless
    again = FileTransport(path)
    await again.send(dm)
    again.close()
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3  # appends


async def test_dispatcher_through_file_transport(services: Services, tmp_path: Path) -> None:
    """Draining into a file writes every queued delivery exactly once."""
    await _setup(services.context.cohort)
    await _queue(services, "u1", key="a")
    await _queue(services, "u2", key="b", not_before=NOW + timedelta(hours=3))
    transport = FileTransport(tmp_path / "d.jsonl")
    dispatcher = Dispatcher(services.context, transport)
    await dispatcher.drain(deferred=True)
    await dispatcher.drain(deferred=True)
    transport.close()
    lines = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert sorted(line["to"] for line in lines) == ["discord:u1", "discord:u2"]


# -- delivery semantics: rate limits, uncertain outcomes, stops, crashes ----------------------


async def test_rate_limit_pauses_the_whole_transport_then_resumes(
    cohort_with: MakeCohort, clock: Clock, tmp_path: Path
) -> None:
    """A 429 on one DM holds every Discord send for the time asked; Telegram goes on."""
    cohort = await cohort_with(delivery={"send_rate": 2.0})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    await _setup(cohort)
    limited = await _queue(services, "u1", key="a")
    held = await _queue(services, "u2", key="b")
    other = await _queue(services, "t1", platform="telegram", community="-100", key="c")
    discord = RecordingTransport(SendResult(SendStatus.RATE_LIMITED, 30.0, "429"))
    telegram = RecordingTransport()
    dispatcher = Dispatcher(
        services.context, {"discord": discord, "telegram": telegram}, in_flight=1
    )
    report = await dispatcher.drain()
    assert [d.id for d in discord.sent] == [limited] and [d.id for d in telegram.sent] == [other]
    for delivery in (limited, held):
        row = await _row(services, delivery)
        assert (row.status, row.attempts) == (outbox.PENDING, 0)
    assert (await _row(services, limited)).next_attempt_at == NOW + timedelta(seconds=30)
    assert report.rate_limited == 1 and report.sent == 1
    clock.advance(seconds=29)
    assert (await dispatcher.drain()).handled == 0 and len(discord.sent) == 1  # still paused
    clock.advance(seconds=1)
    assert (await dispatcher.drain()).sent == 2
    assert sorted(d.id for d in discord.sent) == [limited, limited, held]


async def test_opening_dms_too_fast_slows_the_campaign_and_marks_nobody_unreachable(
    services: Services, clock: Clock
) -> None:
    """Discord's 40003: the transport pauses, then sends at half the rate; no one unreachable."""
    cohort = services.context.cohort
    await _setup(cohort)
    first = await _queue(services, "u1", key="a")
    transport = RecordingTransport(
        SendResult(SendStatus.RATE_LIMITED, None, "40003", slow_down=True)
    )
    dispatcher = Dispatcher(services.context, {"discord": transport})
    report = await dispatcher.drain()
    assert report.rate_limited == 1 and report.unreachable == 0
    lane = dispatcher.lanes["discord"]
    assert lane.rate == dispatcher.rate / 2 and lane.limiter is not None
    assert lane.paused_until == NOW + timedelta(seconds=60)
    clock.advance(seconds=60)
    assert (await dispatcher.drain()).sent == 1
    row = await _row(services, first)
    assert (row.status, row.attempts) == (outbox.SENT, 1)
    async with cohort.store.read() as conn:
        member = await find_member(conn, "discord", "u1")
    assert member is not None and member.dm_unreachable_at is None


async def test_uncertain_outcome_is_never_retried(services: Services, clock: Clock) -> None:
    """TimedOut after the request went out: uncertain, counted, and never sent again."""
    await _setup(services.context.cohort)
    await _queue(services, "u1")
    transport = RecordingTransport(SendResult(SendStatus.UNCERTAIN, None, "TimedOut: read timeout"))
    dispatcher = Dispatcher(services.context, transport)
    assert (await dispatcher.drain()).uncertain == 1
    clock.advance(days=1)
    assert (await dispatcher.drain(deferred=True)).handled == 0
    assert len(transport.sent) == 1
    async with services.context.store.read() as conn:
        assert (await outbox.counts(conn))[outbox.UNCERTAIN] == 1


class Slow(RecordingTransport):
    """A transport whose sends to one recipient hang until released."""

    def __init__(self, stuck: str) -> None:
        super().__init__()
        self.stuck = stuck
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def send(self, delivery: Delivery) -> SendResult:
        """Hang on the stuck recipient, answer the rest at once."""
        if delivery.recipient == self.stuck:
            self.started.set()
            await self.release.wait()
        return await super().send(delivery)


async def test_a_slow_send_does_not_hold_the_others(
    cohort_with: MakeCohort, clock: Clock, tmp_path: Path
) -> None:
    """One send stuck in a platform's retries: the other deliveries go out meanwhile."""
    cohort = await cohort_with(delivery={"send_rate": 100.0})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    await _setup(cohort)
    await _queue(services, "u1", key="stuck")
    others = [await _queue(services, "u2", key=f"k{n}") for n in range(5)]
    transport = Slow("u1")
    draining = asyncio.create_task(Dispatcher(services.context, transport).drain())
    await transport.started.wait()
    for _ in range(500):  # polling what the fake recorded
        if len(transport.sent) == len(others):
            break
        await asyncio.sleep(0.01)
    assert [d.id for d in transport.sent] == others  # all sent while u1's send hangs
    transport.release.set()
    assert (await draining).sent == 6


async def test_stop_finishes_the_send_in_flight_and_gives_back_every_other_claim(
    cohort_with: MakeCohort, clock: Clock, tmp_path: Path
) -> None:
    """stop(): the send under way completes and is recorded; claimed, unsent rows are pending."""
    cohort = await cohort_with(delivery={"send_rate": 100.0})
    services = build_services(cohort, clock, tmp_path / "artifacts")
    await _setup(cohort)
    stuck = await _queue(services, "u1", key="stuck")
    waiting = [await _queue(services, "u1", key=f"w{n}") for n in range(4)]  # same member
    transport = Slow("u1")
    dispatcher = Dispatcher(services.context, transport, in_flight=5)
    draining = asyncio.create_task(dispatcher.drain())
    await transport.started.wait()
    dispatcher.stop()
    transport.release.set()
    report = await draining
    assert report.sent == 1 and report.released == 4
    assert [d.id for d in transport.sent] == [stuck]
    assert (await _row(services, stuck)).status == outbox.SENT
    for delivery in waiting:
        row = await _row(services, delivery)
        assert (row.status, row.attempts, row.claimed_by) == (outbox.PENDING, 0, None)


async def test_file_transport_settles_a_crashed_writers_attempts_from_its_file(
    services: Services, clock: Clock, tmp_path: Path
) -> None:
    """After a crash: a delivery whose line is in the file is sent, one without is rewritten."""
    await _setup(services.context.cohort)
    written = await _queue(services, "u1", key="a")
    lost = await _queue(services, "u2", key="b")
    path = tmp_path / "d.jsonl"
    transport = FileTransport(path)
    dead = "elsewhere:1:x"
    via = transport.via
    async with services.context.store.write() as conn:
        claimed = await outbox.claim(conn, NOW, holder=dead, lease=LEASE, limit=2)
        for item in claimed:
            assert await outbox.mark_attempted(conn, item.id, dead, via, NOW)
    crashed = FileTransport(path)  # the dead writer got one line out, and half of another
    await crashed.send(Delivery(written, "dm", "promotion", "discord", "u1", "g1", Reply()))
    crashed.close()
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f'{{"delivery": {lost}, "kind": "d')
    clock.advance(minutes=6)  # the dead writer's lease ran out
    dispatcher = Dispatcher(services.context, transport)
    report = await dispatcher.drain(deferred=True)
    transport.close()
    assert (report.sent, report.uncertain) == (2, 0)  # one confirmed from the file, one sent
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["delivery"] for line in lines) == [written, lost]
    assert (await _row(services, written)).status == outbox.SENT
    assert (await _row(services, lost)).status == outbox.SENT
