"""The dispatcher: claims due outbox rows, sends them through transports, records outcomes.

At most once per row, across crashes, stops and several instances (see
docs/reliability.md):

- claims are short: a dispatcher holds at most `in_flight` rows at a time (about a
  second of sending at `send_rate`), and writes `attempted_at` just before the
  network call;
- a graceful `stop()` lets the sends in flight finish (up to `stop_grace` seconds)
  and gives every other claim back at once;
- claims of a dead holder (its process is gone, or its lease ran out) are recovered
  by the next pass: given back if never attempted; if attempted, settled by the
  transport when it can tell (the file transport reads its file), else `uncertain`;
- an error after which the message may have arrived (`UNCERTAIN`) is never retried;
- a 429 / RetryAfter (`RATE_LIMITED`) pauses the whole transport for the time the
  platform asked; Discord's "opening DMs too fast" also halves that transport's rate.

Sends run concurrently within one global rate (an `aiolimiter.AsyncLimiter`), so one
slow send (a platform retrying a 5xx) holds up only itself. Deliveries to the same
recipient go one after the other. Retries of surely-unsent deliveries back off
exponentially and stop after `max_attempts`; a member whose DMs are closed is marked
unreachable and skipped from then on. Each pick in a delivered message becomes an
impression (with its token).

Consent is checked again when a DM is about to go out: a member who withdrew DM
consent (or was erased) after the DM was queued, for example while it waited for
their quiet hours, gets nothing; the row is `cancelled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiolimiter import AsyncLimiter

from bot.core.delivery import owners
from bot.core.delivery.transport import (
    Confirming,
    Delivery,
    SendResult,
    SendStatus,
    Transport,
    describe_error,
)
from bot.core.services.context import ServiceContext
from bot.domain.replies import reply_from_dict
from bot.store import outbox
from bot.store.audit import write_audit
from bot.store.campaigns import SLOWED
from bot.store.members import mark_unreachable
from bot.store.tracking import Shown, record_impressions

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_BACKOFF = 3600.0
DEFERRED_HORIZON = timedelta(days=2)  # quiet hours and backoffs end well within this
MAX_IN_FLIGHT = 16
STOP_GRACE = 10.0  # seconds a graceful stop waits for the sends in flight
RATE_LIMIT_PAUSE = 5.0  # a 429 that did not say how long
SLOW_DOWN_PAUSE = 60.0  # Discord's 40003 does not say how long
MIN_RATE = 0.1  # sends per second a transport is never slowed below
ALL = "*"  # the lane of a dispatcher with one transport for every platform
COUNTS = ("sent", "retried", "rate_limited", "unreachable", "failed", "uncertain", "cancelled")


@dataclass
class DispatchReport:
    """What one pass (or drain) did."""

    sent: int = 0
    retried: int = 0
    rate_limited: int = 0  # given back because the platform asked the transport to wait
    unreachable: int = 0
    failed: int = 0
    uncertain: int = 0  # may have been delivered: never resent, shown to operators
    cancelled: int = 0
    released: int = 0  # claims given back unsent (a stop, a dead holder's claims)
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Deliveries this pass settled or put back for later."""
        return sum(getattr(self, name) for name in COUNTS)

    def add(self, other: DispatchReport) -> None:
        """Add another report's counts to this one."""
        for name in (*COUNTS, "released"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)


@dataclass
class Lane:
    """One transport's shared state: a pause the platform asked for, a lowered rate."""

    paused_until: datetime | None = None
    rate: float | None = None
    limiter: AsyncLimiter | None = None

    def paused(self, now: datetime) -> bool:
        """Whether the transport is still asked to wait."""
        return self.paused_until is not None and now < self.paused_until

    def pause(self, until: datetime) -> None:
        """Hold every send on this transport until `until`."""
        if self.paused_until is None or until > self.paused_until:
            self.paused_until = until

    def slow_down(self, current: float) -> float:
        """Halve this transport's rate (not below `MIN_RATE`); returns the new rate."""
        self.rate = max(MIN_RATE, (self.rate or current) / 2)
        self.limiter = AsyncLimiter(1, 1.0 / self.rate)
        return self.rate


@dataclass
class _Pass:
    """What the deliveries of one pass share."""

    report: DispatchReport = field(default_factory=DispatchReport)
    closed: set[int] = field(default_factory=set)  # members found unreachable
    retried: set[int] = field(default_factory=set)  # put back: not taken again this pass
    attempting: set[asyncio.Task[None]] = field(default_factory=set)


class Dispatcher:
    """Sends what the outbox holds, via one transport per platform (or one for all)."""

    def __init__(
        self,
        context: ServiceContext,
        transports: Mapping[str, Transport] | Transport,
        *,
        lease: timedelta = LEASE,
        holder: str | None = None,
        in_flight: int | None = None,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        self.context = context
        self._transports = transports
        self.lease = lease
        self.holder = holder or owners.new_holder()
        settings = context.cohort.settings.delivery
        self.max_attempts = settings.max_attempts
        self.rate = settings.send_rate
        self.limiter = AsyncLimiter(1, 1.0 / self.rate)
        self.in_flight = in_flight or max(1, min(MAX_IN_FLIGHT, math.ceil(self.rate)))
        self.stop_grace = stop_grace
        self.lanes: dict[str, Lane] = {}
        self._stopping = asyncio.Event()
        self._queues: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    # -- control -----------------------------------------------------------------------

    def stop(self) -> None:
        """Stop soon: no new claims; sends in flight finish; other claims are given back."""
        self._stopping.set()

    async def _stopped(self) -> None:
        await self._stopping.wait()

    @property
    def stopping(self) -> bool:
        """Whether `stop()` was called."""
        return self._stopping.is_set()

    def _transport(self, platform: str) -> Transport | None:
        if isinstance(self._transports, Mapping):
            return self._transports.get(platform)
        return self._transports

    def _lane(self, platform: str) -> Lane:
        key = platform if isinstance(self._transports, Mapping) else ALL
        return self.lanes.setdefault(key, Lane())

    def _open_platforms(self, now: datetime) -> list[str] | None:
        """Platforms whose transport is not paused (None: all, with one transport)."""
        if isinstance(self._transports, Mapping):
            return [p for p in self._transports if not self._lane(p).paused(now)]
        return None

    # -- passes ------------------------------------------------------------------------

    async def run_once(
        self,
        *,
        limit: int | None = None,
        campaign: str | None = None,
        run_id: int | None = None,
        deferred: bool = False,
    ) -> DispatchReport:
        """Recover dead claims, then claim and send up to `limit` due deliveries.

        `deferred`: also those waiting for quiet hours or a retry time (the file
        transport writes a whole campaign at once; no one is messaged at night).
        """
        state = _Pass()
        await self._recover(state.report)
        tasks: set[asyncio.Task[None]] = set()
        try:
            if not self.stopping:
                claimed = await self._claim(
                    limit or self.in_flight, campaign, run_id, deferred, state.retried
                )
                tasks = {asyncio.create_task(self._deliver(item, state)) for item in claimed}
                await self._settle(tasks, state)
        finally:
            await self._wind_down(tasks, state)
        return state.report

    async def drain(
        self, *, campaign: str | None = None, run_id: int | None = None, deferred: bool = False
    ) -> DispatchReport:
        """Send everything due (of a campaign or run) until nothing due is left.

        At most `in_flight` deliveries are claimed at any time; a freed slot is filled
        by a new claim. Returns early, with every unsent claim given back, on `stop()`.
        """
        state = _Pass()
        await self._recover(state.report)
        tasks: set[asyncio.Task[None]] = set()
        stopped = asyncio.ensure_future(self._stopped())
        try:
            while not self.stopping:
                room = self.in_flight - len(tasks)
                if room > 0:
                    claimed = await self._claim(room, campaign, run_id, deferred, state.retried)
                    tasks |= {asyncio.create_task(self._deliver(item, state)) for item in claimed}
                if not tasks:
                    break
                done, _ = await asyncio.wait({*tasks, stopped}, return_when=asyncio.FIRST_COMPLETED)
                finished = done - {stopped}
                tasks -= finished
                self._collect(finished, state)
        finally:
            stopped.cancel()
            await self._wind_down(tasks, state)
        return state.report

    async def run_forever(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Dispatch until `stop` is set (then stop gracefully)."""
        watcher = asyncio.ensure_future(self._watch(stop))
        try:
            while not stop.is_set():
                try:
                    report = await self.drain()
                except Exception:
                    log.exception("dispatch pass failed")
                    report = DispatchReport()
                if report.handled == 0 or report.retried == report.handled:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), interval)
        finally:
            watcher.cancel()

    async def _watch(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.stop()

    async def _claim(
        self,
        limit: int,
        campaign: str | None,
        run_id: int | None,
        deferred: bool,
        exclude: Collection[int],
    ) -> list[outbox.Claimed]:
        now = self.context.clock()
        platforms = self._open_platforms(now)
        if platforms == [] or (platforms is None and self._lane(ALL).paused(now)):
            return []  # every transport is paused: claim nothing rather than hold it
        async with self.context.store.write() as conn:
            return await outbox.claim(
                conn,
                now,
                holder=self.holder,
                lease=self.lease,
                limit=limit,
                campaign=campaign,
                run_id=run_id,
                due_by=now + DEFERRED_HORIZON if deferred else None,
                platforms=platforms,
                exclude=exclude,
            )

    async def _settle(self, tasks: set[asyncio.Task[None]], state: _Pass) -> None:
        """Wait for `tasks`, or for `stop()` (then wind down handles the rest)."""
        if not tasks:
            return
        stopped = asyncio.ensure_future(self._stopped())
        pending = set(tasks)
        try:
            while pending and not self.stopping:
                done, pending = await asyncio.wait(
                    {*pending, stopped}, return_when=asyncio.FIRST_COMPLETED
                )
                done.discard(stopped)
                pending.discard(stopped)
                self._collect(done, state)
        finally:
            stopped.cancel()
            tasks.intersection_update(pending)

    def _collect(self, done: Collection[asyncio.Task[None]], state: _Pass) -> None:
        """Log deliveries whose handling itself failed (their claims are wound down)."""
        for task in done:
            if task.cancelled():
                continue
            error = task.exception()
            if error is not None:
                log.error("delivery handling failed", exc_info=error)
                state.report.errors.append(describe_error(error))

    async def _wind_down(self, tasks: set[asyncio.Task[None]], state: _Pass) -> None:
        """Finish sends in flight (up to `stop_grace`), cancel the rest, settle every claim.

        Unattempted claims of this dispatcher go back to `pending`; attempted ones that
        never got an outcome are settled by the transport if it can tell, else marked
        `uncertain`.
        """
        unfinished = {task for task in tasks if not task.done()}
        for task in unfinished - state.attempting:
            task.cancel()  # waiting for the rate, a pause or its turn: nothing sent
        if unfinished:
            _, late = await asyncio.wait(unfinished, timeout=self.stop_grace)
            for task in late:
                task.cancel()
            if late:
                log.warning("%d sends did not finish in %.0fs", len(late), self.stop_grace)
                await asyncio.wait(late)
        self._collect({task for task in unfinished if task.done()}, state)
        async with self.context.store.write() as conn:
            state.report.released += await outbox.release(conn, holder=self.holder)
            mine = [h for h in await outbox.held(conn) if h.claimed_by == self.holder]
        if mine:
            await self._settle_attempts(mine, state.report, "stopped during the send")
        if state.report.released:
            log.info("gave back %d unsent claims", state.report.released)

    # -- recovery ----------------------------------------------------------------------

    async def _recover(self, report: DispatchReport) -> None:
        """Take back claims whose holder died (gone from this host, or lease run out)."""
        now = self.context.clock()
        async with self.context.store.write() as conn:
            report.unreachable += await outbox.drop_unreachable(conn)
            held = await outbox.held(conn)
        stale = [
            h
            for h in held
            if h.claimed_by != self.holder
            and (h.claimed_until is None or h.claimed_until <= now or owners.is_dead(h.claimed_by))
        ]
        if not stale:
            return
        never = [h.id for h in stale if h.attempted_at is None]
        if never:
            async with self.context.store.write() as conn:
                released = await outbox.release(conn, ids=never)
            report.released += released
            log.info("gave back %d claims of stopped senders (never attempted)", released)
        attempted = [h for h in stale if h.attempted_at is not None]
        if attempted:
            await self._settle_attempts(
                attempted, report, "the sender stopped during the send: it may have arrived"
            )

    async def _settle_attempts(
        self, attempts: list[outbox.Held], report: DispatchReport, reason: str
    ) -> None:
        """Attempts without an outcome: confirmed by their transport, else uncertain."""
        confirmers = self._confirmers()
        unknown: list[int] = []
        by_via: dict[str, list[int]] = {}
        for attempt in attempts:
            if attempt.attempted_via in confirmers:
                by_via.setdefault(attempt.attempted_via, []).append(attempt.id)
            else:
                unknown.append(attempt.id)
        for via, ids in by_via.items():
            delivered = await confirmers[via].delivered(ids)
            undelivered = [i for i in ids if i not in delivered]
            if undelivered:
                async with self.context.store.write() as conn:
                    report.released += await outbox.release(conn, ids=undelivered, attempted=True)
            async with self.context.store.read() as conn:
                confirmed = await outbox.claimed_rows(conn, sorted(delivered))
            for item in confirmed:
                await self._record(item, SendResult(SendStatus.SENT), _Pass(report))
            if ids:
                log.info(
                    "%s: %d interrupted deliveries were written, %d were not (given back)",
                    via,
                    len(confirmed),
                    len(undelivered),
                )
        if unknown:
            async with self.context.store.write() as conn:
                marked = await outbox.mark_uncertain(conn, unknown, reason)
            report.uncertain += marked
            log.warning(
                "%d deliveries are uncertain (%s); they are not resent: "
                "see `cohort stats` and docs/reliability.md",
                marked,
                reason,
            )

    def _confirmers(self) -> dict[str, Confirming]:
        transports = (
            list(self._transports.values())
            if isinstance(self._transports, Mapping)
            else [self._transports]
        )
        return {t.via: t for t in transports if isinstance(t, Confirming)}

    # -- one delivery ------------------------------------------------------------------

    def _may_dm(self, item: outbox.Claimed) -> bool:
        """Whether the recipient of a claimed DM still consents to DMs in its community."""
        payload = item.payload
        community = payload.get("community")
        if community is None:
            return False
        return self.context.cohort.gate.may_dm(
            payload.get("platform", ""), str(community), str(payload.get("recipient", ""))
        )

    async def _deliver(self, item: outbox.Claimed, state: _Pass) -> None:
        """Send one claimed delivery (after the ones before it to the same recipient)."""
        if item.kind == "dm" and not self._may_dm(item):
            await self._cancel(item, "no DM consent at send time", state.report)
            return
        key = (str(item.payload.get("platform", "")), str(item.payload.get("recipient", "")))
        lock, users = self._queues.get(key, (asyncio.Lock(), 0))
        self._queues[key] = (lock, users + 1)
        try:
            async with lock:
                await self._deliver_in_turn(item, state)
        finally:
            lock, users = self._queues[key]
            if users <= 1:
                del self._queues[key]
            else:
                self._queues[key] = (lock, users - 1)

    async def _deliver_in_turn(self, item: outbox.Claimed, state: _Pass) -> None:
        if item.kind == "dm" and item.member_id in state.closed:
            unreachable = SendResult(SendStatus.UNREACHABLE, None, "member unreachable")
            await self._record(item, unreachable, state)
            return
        platform = str(item.payload.get("platform", ""))
        transport = self._transport(platform)
        if transport is None:
            await self._put_back(item, 60.0, f"no transport for {platform}", state)
            return
        lane = self._lane(platform)
        await self.limiter.acquire()
        if lane.limiter is not None:
            await lane.limiter.acquire()
        now = self.context.clock()
        if self.stopping:
            return  # the wind-down gives the claim back
        if lane.paused(now):
            assert lane.paused_until is not None
            wait = (lane.paused_until - now).total_seconds()
            await self._put_back(item, wait, "transport paused (rate limit)", state)
            return
        delivery = Delivery(
            id=item.id,
            kind=item.kind,
            purpose=item.purpose,
            platform=platform,
            recipient=item.payload["recipient"],
            community=item.payload.get("community"),
            reply=reply_from_dict(item.payload["reply"]),
            course=item.course_id,
            campaign=item.campaign,
            attempt=item.attempts,
        )
        via = transport.via if isinstance(transport, Confirming) else platform
        task = asyncio.current_task()
        if task is not None:  # from here on a stop waits for this send to finish
            state.attempting.add(task)
        async with self.context.store.write() as conn:
            ours = await outbox.mark_attempted(conn, item.id, self.holder, via, now)
        if not ours:
            log.warning("delivery %d: claim lost before sending; not sent", item.id)
            return
        try:
            result = await transport.send(delivery)
        except Exception as exc:  # a transport bug: whether it sent anything is unknown
            log.exception("transport failed on delivery %d", item.id)
            result = SendResult(SendStatus.UNCERTAIN, None, describe_error(exc))
        await self._record(item, result, state)
        if task is not None:
            state.attempting.discard(task)

    async def _put_back(self, item: outbox.Claimed, seconds: float, why: str, state: _Pass) -> None:
        """Give an unsent claim back, due in `seconds`, its attempt not counted."""
        now = self.context.clock()
        async with self.context.store.write() as conn:
            await outbox.finish(
                conn,
                item.id,
                outbox.PENDING,
                now,
                error=why,
                retry_at=now + timedelta(seconds=seconds),
                refund=True,
            )
        state.report.rate_limited += 1
        state.retried.add(item.id)

    async def _cancel(self, item: outbox.Claimed, reason: str, report: DispatchReport) -> None:
        """Close a claimed delivery without sending it."""
        async with self.context.store.write() as conn:
            await outbox.finish(conn, item.id, outbox.CANCELLED, self.context.clock(), error=reason)
        report.cancelled += 1
        log.info("delivery %d cancelled: %s", item.id, reason)

    def _rate_limited(self, item: outbox.Claimed, result: SendResult) -> float:
        """Pause the delivery's transport as the platform asked; the seconds to wait."""
        platform = str(item.payload.get("platform", ""))
        lane = self._lane(platform)
        seconds = result.retry_after or (SLOW_DOWN_PAUSE if result.slow_down else RATE_LIMIT_PAUSE)
        lane.pause(self.context.clock() + timedelta(seconds=seconds))
        if result.slow_down:
            rate = lane.slow_down(self.rate)
            log.warning(
                "%s: the platform says Cohort sends too fast (%s); paused %.0fs, then "
                "%.2f messages/s. Nobody was marked unreachable.",
                platform or "transport",
                result.error,
                seconds,
                rate,
            )
        else:
            log.warning(
                "%s: rate limited (%s); every send on it waits %.1fs",
                platform or "transport",
                result.error,
                seconds,
            )
        return seconds

    async def _record(self, item: outbox.Claimed, result: SendResult, state: _Pass) -> None:
        now = self.context.clock()
        status = result.status
        report = state.report
        wait = self._rate_limited(item, result) if status is SendStatus.RATE_LIMITED else 0.0
        async with self.context.store.write() as conn:
            if status is SendStatus.SENT:
                await outbox.finish(conn, item.id, outbox.SENT, now, error=result.error)
                report.sent += 1
            elif status is SendStatus.UNREACHABLE:
                await outbox.finish(conn, item.id, outbox.UNREACHABLE, now, error=result.error)
                if item.member_id is not None:
                    await mark_unreachable(conn, item.member_id, now)
                    state.closed.add(item.member_id)
                report.unreachable += 1
            elif status is SendStatus.RATE_LIMITED:
                if result.slow_down:  # moderators see it in the campaign's outcome
                    await write_audit(
                        conn,
                        ts=now,
                        action=SLOWED,
                        outcome="paused",
                        community_id=item.community_id,
                        target=item.campaign,
                        details={"platform": item.payload.get("platform"), "error": result.error},
                    )
                await outbox.finish(
                    conn,
                    item.id,
                    outbox.PENDING,
                    now,
                    error=result.error,
                    retry_at=now + timedelta(seconds=wait),
                    refund=True,
                )
                report.rate_limited += 1
            elif status is SendStatus.UNCERTAIN:
                await outbox.finish(conn, item.id, outbox.UNCERTAIN, now, error=result.error)
                report.uncertain += 1
                log.warning(
                    "delivery %d may have been delivered (%s): not resent", item.id, result.error
                )
            elif status is SendStatus.RETRY and item.attempts < self.max_attempts:
                delay = result.retry_after or min(MAX_BACKOFF, 30.0 * 2 ** (item.attempts - 1))
                await outbox.finish(
                    conn,
                    item.id,
                    outbox.PENDING,
                    now,
                    error=result.error,
                    retry_at=now + timedelta(seconds=delay),
                )
                report.retried += 1
                state.retried.add(item.id)
            else:
                await outbox.finish(conn, item.id, outbox.FAILED, now, error=result.error)
                report.failed += 1
                if result.error:
                    report.errors.append(f"{item.id}: {result.error}")
        if status is SendStatus.SENT:
            shown = [
                Shown(
                    member_id=item.member_id,
                    course_id=pick["course"],
                    position=int(pick["position"]),
                    variant=pick["variant"],
                    source=item.payload["platform"],
                    community_id=item.community_id,
                    channel_id=item.channel_id,
                    token=pick["token"],
                )
                for pick in item.payload.get("impressions", [])
            ]
            if shown:
                await self.context.store.run_write(lambda c: record_impressions(c, shown, now))
