"""Attribution: which shown pick led to a purchase (last touch within a window).

Each purchase not yet looked at is tied to one touch, in this order:

1. its tracking token (from a "Learn more" link or the shop's webhook), when the
   token's impression is of the same course and within the window;
2. else the latest impression or click of that course by the buyer (any of the
   person's linked identities) within `[recommend] attribution_days` before it.

The purchase takes the touch's variant and position; a purchase nothing led to is
marked `organic`. A few minutes of clock skew between the shop and the bot are
tolerated. The job runs on a schedule in `cohort run` and before `cohort funnel`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.services.context import ServiceContext
from bot.store import attribution as a
from bot.store.members import person_members

log = logging.getLogger(__name__)

SKEW = timedelta(minutes=5)
BATCH = 500


@dataclass
class AttributionReport:
    """What one attribution pass did."""

    by_token: int = 0
    last_touch: int = 0
    organic: int = 0

    @property
    def total(self) -> int:
        """Purchases looked at."""
        return self.by_token + self.last_touch + self.organic


class AttributionService:
    """Ties purchases to the picks that led to them."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    @property
    def window(self) -> timedelta:
        """How long after a touch a purchase is still credited to it."""
        return timedelta(days=self.context.cohort.settings.recommend.attribution_days)

    async def run(self) -> AttributionReport:
        """Attribute every pending purchase (in batches, one transaction each)."""
        report = AttributionReport()
        while True:
            async with self.context.store.write() as conn:
                pending = await a.pending_purchases(conn, BATCH)
                for purchase in pending:
                    touch, how = await self._touch(conn, purchase)
                    await a.attribute(conn, purchase.id, touch)
                    if how == "token":
                        report.by_token += 1
                    elif how == "last":
                        report.last_touch += 1
                    else:
                        report.organic += 1
            if len(pending) < BATCH:
                break
        if report.total:
            log.info(
                "attribution: %d by token, %d last touch, %d organic",
                report.by_token,
                report.last_touch,
                report.organic,
            )
        return report

    async def _touch(
        self, conn: AsyncConnection, purchase: a.Purchase
    ) -> tuple[a.Touch | None, str]:
        window = self.window
        if purchase.token:
            touch = await a.touch_by_token(conn, purchase.token)
            if (
                touch is not None
                and touch.course_id == purchase.course_id
                and purchase.ts - window <= touch.ts <= purchase.ts + SKEW
            ):
                return touch, "token"
        if purchase.member_id is None:
            return None, "organic"
        identities = [m.id for m in await person_members(conn, purchase.member_id)]
        touch = await a.last_touch(
            conn, identities, purchase.course_id, purchase.ts - window, purchase.ts + SKEW
        )
        return (touch, "last") if touch is not None else (None, "organic")
