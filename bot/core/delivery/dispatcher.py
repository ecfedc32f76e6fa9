"""The dispatcher: claims due outbox rows, sends them through transports, records outcomes.

Safe with several instances (claims are atomic) and at most once per row (a claim
that outlives its lease becomes `uncertain`, never resent). A global send rate keeps
the bot under the platforms' limits; retries back off exponentially and stop after
`max_attempts`; a member whose DMs are closed is marked unreachable and skipped from
then on. Each pick in a delivered message becomes an impression (with its token).

Consent is checked again when a DM is about to go out: a member who withdrew DM
consent (or was erased) after the DM was queued, for example while it waited for
their quiet hours, gets nothing; the row is `cancelled`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bot.core.delivery.transport import Delivery, SendResult, SendStatus, Transport
from bot.core.replies import reply_from_dict
from bot.core.services.context import ServiceContext
from bot.store import engagement as q
from bot.store import outbox
from bot.store.tracking import Shown, record_impressions

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_BACKOFF = 3600.0
DEFERRED_HORIZON = timedelta(days=2)  # quiet hours and backoffs end well within this


@dataclass
class DispatchReport:
    """What one pass did."""

    sent: int = 0
    retried: int = 0
    unreachable: int = 0
    failed: int = 0
    uncertain: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """Deliveries this pass took."""
        return self.sent + self.retried + self.unreachable + self.failed + self.cancelled


class RateLimiter:
    """At most `rate` sends per second, spread evenly."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        """Sleep until the next send is allowed."""
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(now, self._next) + self.interval


class Dispatcher:
    """Sends what the outbox holds, via one transport per platform (or one for all)."""

    def __init__(
        self,
        context: ServiceContext,
        transports: Mapping[str, Transport] | Transport,
        *,
        lease: timedelta = LEASE,
    ) -> None:
        self.context = context
        self._transports = transports
        self.lease = lease
        settings = context.cohort.settings.delivery
        self.max_attempts = settings.max_attempts
        self.limiter = RateLimiter(settings.send_rate)

    def _transport(self, platform: str) -> Transport | None:
        if isinstance(self._transports, Mapping):
            return self._transports.get(platform)
        return self._transports

    async def run_once(
        self,
        *,
        limit: int = 100,
        campaign: str | None = None,
        run_id: int | None = None,
        deferred: bool = False,
    ) -> DispatchReport:
        """Claim and send up to `limit` due deliveries.

        `deferred`: also those waiting for quiet hours or a retry time (the file
        transport writes a whole campaign at once; no one is messaged at night).
        """
        report = DispatchReport()
        now = self.context.clock()
        async with self.context.store.write() as conn:
            report.uncertain = await outbox.expire_leases(conn, now)
            report.unreachable = await outbox.drop_unreachable(conn)
            claimed = await outbox.claim(
                conn,
                now,
                lease=self.lease,
                limit=limit,
                campaign=campaign,
                run_id=run_id,
                due_by=now + DEFERRED_HORIZON if deferred else None,
                platforms=list(self._transports) if isinstance(self._transports, Mapping) else None,
            )
        closed: set[int] = set()  # members found unreachable in this pass
        for item in claimed:
            if item.kind == "dm" and not self._may_dm(item):
                await self._cancel(item, "no DM consent at send time", report)
                continue
            if item.kind == "dm" and item.member_id in closed:
                result = SendResult(SendStatus.UNREACHABLE, None, "member unreachable")
            else:
                result = await self._send(item)
            await self._record(item, result, report)
            if result.status is SendStatus.UNREACHABLE and item.member_id is not None:
                closed.add(item.member_id)
        return report

    async def drain(
        self, *, campaign: str | None = None, run_id: int | None = None, deferred: bool = False
    ) -> DispatchReport:
        """Send everything due (of a campaign or run) until nothing due is left."""
        total = DispatchReport()
        while True:
            report = await self.run_once(campaign=campaign, run_id=run_id, deferred=deferred)
            for name in ("sent", "retried", "unreachable", "failed", "uncertain", "cancelled"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            total.errors.extend(report.errors)
            if report.handled == 0 or report.retried == report.handled:
                return total

    async def run_forever(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Dispatch until `stop` is set (in `cohort run`)."""
        while not stop.is_set():
            try:
                report = await self.run_once()
            except Exception:
                log.exception("dispatch pass failed")
                report = DispatchReport()
            if report.handled == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    def _may_dm(self, item: outbox.Claimed) -> bool:
        """Whether the recipient of a claimed DM still consents to DMs in its community."""
        payload = item.payload
        community = payload.get("community")
        if community is None:
            return False
        return self.context.cohort.gate.may_dm(
            payload.get("platform", ""), str(community), str(payload.get("recipient", ""))
        )

    async def _cancel(self, item: outbox.Claimed, reason: str, report: DispatchReport) -> None:
        """Close a claimed delivery without sending it."""
        async with self.context.store.write() as conn:
            await outbox.finish(conn, item.id, outbox.CANCELLED, self.context.clock(), error=reason)
        report.cancelled += 1
        log.info("delivery %d cancelled: %s", item.id, reason)

    async def _send(self, item: outbox.Claimed) -> SendResult:
        payload = item.payload
        transport = self._transport(payload.get("platform", ""))
        if transport is None:
            return SendResult(SendStatus.RETRY, 60.0, f"no transport for {payload.get('platform')}")
        delivery = Delivery(
            id=item.id,
            kind=item.kind,
            purpose=item.purpose,
            platform=payload["platform"],
            recipient=payload["recipient"],
            community=payload.get("community"),
            reply=reply_from_dict(payload["reply"]),
            course=item.course_id,
            campaign=item.campaign,
            attempt=item.attempts,
        )
        await self.limiter.wait()
        try:
            return await transport.send(delivery)
        except Exception as exc:  # a transport bug must not lose the claim silently
            log.exception("transport failed on delivery %d", item.id)
            return SendResult(SendStatus.RETRY, None, f"{type(exc).__name__}: {exc}")

    async def _record(
        self, item: outbox.Claimed, result: SendResult, report: DispatchReport
    ) -> None:
        now = self.context.clock()
        status = result.status
        async with self.context.store.write() as conn:
            if status is SendStatus.SENT:
                await outbox.finish(conn, item.id, outbox.SENT, now)
                report.sent += 1
            elif status is SendStatus.UNREACHABLE:
                await outbox.finish(conn, item.id, outbox.UNREACHABLE, now, error=result.error)
                if item.member_id is not None:
                    await q.mark_unreachable(conn, item.member_id, now)
                report.unreachable += 1
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
