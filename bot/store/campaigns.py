"""What became of a promotion: its outbox rows by status, and the campaigns sent lately.

The dispatcher records each delivery's final state on its outbox row (`sent`,
`unreachable`, `failed`, `cancelled`, `uncertain`); a campaign's outcome is nothing
more than a query over its rows, so it is the same whichever process sent them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

OPEN = ("pending", "sending")  # not final yet


@dataclass(frozen=True, slots=True)
class CampaignOutcome:
    """A campaign's deliveries by status, and the error of one that did not go out."""

    campaign: str
    statuses: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    slowed: int = 0  # times the platform asked Cohort to send more slowly during it

    @property
    def total(self) -> int:
        """Deliveries queued for the campaign."""
        return sum(self.statuses.values())

    @property
    def finished(self) -> bool:
        """Whether every delivery reached a final state."""
        return not any(self.statuses.get(status, 0) for status in OPEN)

    def count(self, *statuses: str) -> int:
        """Deliveries in any of `statuses`."""
        return sum(self.statuses.get(status, 0) for status in statuses)


@dataclass(frozen=True, slots=True)
class SentCampaign:
    """A promotion a moderator or the operator confirmed (from the audit log)."""

    campaign: str
    course: str
    audience: str
    ts: datetime


SLOWED = "delivery.slowed"  # audit action: the platform asked for fewer messages


async def campaign_outcome(conn: AsyncConnection, campaign: str) -> CampaignOutcome:
    """The outbox rows of `campaign` by status, with the latest error of a failed one."""
    o = s.outbox.c
    statuses = {
        str(status): int(n)
        for status, n in await conn.execute(
            select(o.status, func.count()).where(o.campaign == campaign).group_by(o.status)
        )
    }
    error = await conn.scalar(
        select(o.last_error)
        .where(o.campaign == campaign, o.status == "failed", o.last_error.is_not(None))
        .order_by(o.id.desc())
        .limit(1)
    )
    a = s.audit_log.c
    slowed = await conn.scalar(select(func.count()).where(a.action == SLOWED, a.target == campaign))
    return CampaignOutcome(
        campaign, statuses, None if error is None else str(error), int(slowed or 0)
    )


async def recent_campaigns(
    conn: AsyncConnection, community_id: int, limit: int = 5
) -> list[SentCampaign]:
    """The latest distinct campaigns sent in a community, newest first."""
    a = s.audit_log.c
    result = await conn.execute(
        select(a.ts, a.details)
        .where(a.community_id == community_id, a.action == "promote.send")
        .order_by(a.id.desc())
        .limit(limit * 4)
    )
    seen: dict[str, SentCampaign] = {}
    for ts, details in result:
        info: dict[str, Any] = details or {}
        campaign = info.get("campaign")
        if not campaign or campaign in seen:
            continue
        seen[campaign] = SentCampaign(
            str(campaign), str(info.get("course", "")), str(info.get("audience", "")), ts
        )
        if len(seen) == limit:
            break
    return list(seen.values())


async def draft_campaign(conn: AsyncConnection, draft: int) -> str | None:
    """The campaign a promotion preview (audit row `draft`) turns into when confirmed."""
    a = s.audit_log.c
    details = await conn.scalar(
        select(a.details).where(a.id == draft, a.action == "promote.preview")
    )
    campaign = (details or {}).get("campaign")
    return str(campaign) if campaign else None
