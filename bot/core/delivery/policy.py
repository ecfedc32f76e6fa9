"""Who may receive a promotional DM now: consent, reachability, caps, cooldown, quiet hours.

Checked for a whole audience at once (a few queries, not one per member):

- no DM consent in the community (never DM anyone who has not opted in);
- unreachable: their DMs are closed or they blocked the bot;
- capped: the person (all linked identities) already got `dm_cap` promotional DMs
  within `dm_cap_days`;
- cooldown: the same course was promoted to the person within `course_cooldown_days`;
- quiet hours: local time (the member's timezone, else the community's) is within
  the quiet window; such a delivery is not dropped but waits until the window ends.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.config import DeliverySettings
from bot.domain.consent import ConsentGate
from bot.store import outbox
from bot.store.communities import CommunityInfo
from bot.store.members import MemberInfo, person_members

NO_CONSENT, UNREACHABLE, CAPPED, COOLDOWN, QUIET = (
    "no_consent",
    "unreachable",
    "capped",
    "cooldown",
    "quiet",
)
#: The rules that drop a message (quiet hours only defer it), in the order checked.
BLOCKING_RULES: tuple[str, ...] = (NO_CONSENT, UNREACHABLE, CAPPED, COOLDOWN)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a member may be messaged: `blocked` names the first rule that says no.

    A quiet-hours verdict is deliverable later: `not_before` is when.
    """

    blocked: str | None = None
    not_before: datetime | None = None

    @property
    def sendable(self) -> bool:
        """Deliverable now or later (quiet hours only delay)."""
        return self.blocked is None or self.blocked == QUIET


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def zone(name: str | None, fallback: str) -> ZoneInfo:
    """A timezone by name; unknown names fall back (then to UTC)."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def quiet_until(now: datetime, tz: ZoneInfo, start: time, end: time) -> datetime | None:
    """If `now` is within the local quiet window [start, end), when it ends (aware UTC)."""
    local = now.astimezone(tz)
    current = local.time()
    if start == end:
        return None
    inside = (start <= current or current < end) if start > end else start <= current < end
    if not inside:
        return None
    day = local.date() if current < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(now.tzinfo)


class DeliveryPolicy:
    """Applies [delivery] settings to an audience."""

    def __init__(self, settings: DeliverySettings, gate: ConsentGate) -> None:
        self.settings = settings
        self.gate = gate

    async def check(
        self,
        conn: AsyncConnection,
        members: list[MemberInfo],
        community: CommunityInfo,
        course: str | None,
        now: datetime,
        *,
        promotion: bool = True,
    ) -> dict[int, Verdict]:
        """A verdict per member id.

        Caps and cooldowns limit promotions; a digest the member opted in to
        (`promotion=False`) is bound only by consent, reachability and quiet hours.
        """
        settings = self.settings
        verdicts: dict[int, Verdict] = {}
        # Persons: caps and cooldowns count every linked identity.
        person_of: dict[int, str] = {}
        identities: dict[str, set[int]] = defaultdict(set)
        for member in members:
            key = f"p{member.person_id}" if member.person_id else f"m{member.id}"
            person_of[member.id] = key
            identities[key].add(member.id)
            if member.person_id:
                for other in await person_members(conn, member.id):
                    identities[key].add(other.id)
        horizon = now - timedelta(days=max(settings.dm_cap_days, settings.course_cooldown_days))
        history = await outbox.recent_promotions(
            conn, sorted({i for ids in identities.values() for i in ids}), horizon
        )
        cap_since = now - timedelta(days=settings.dm_cap_days)
        cooldown_since = now - timedelta(days=settings.course_cooldown_days)
        sent_to: dict[int, list[tuple[str | None, datetime]]] = defaultdict(list)
        for member_id, sent_course, created in history:
            sent_to[member_id].append((sent_course, created))
        start, end = _clock(settings.quiet_start), _clock(settings.quiet_end)
        for member in members:
            if not self.gate.may_dm(member.platform, community.platform_id, member.platform_id):
                verdicts[member.id] = Verdict(NO_CONSENT)
                continue
            if member.dm_unreachable_at is not None:
                verdicts[member.id] = Verdict(UNREACHABLE)
                continue
            past = [entry for i in identities[person_of[member.id]] for entry in sent_to[i]]
            if promotion and sum(1 for _, when in past if when >= cap_since) >= settings.dm_cap:
                verdicts[member.id] = Verdict(CAPPED)
                continue
            if (
                promotion
                and course is not None
                and settings.course_cooldown_days
                and any(c == course and when >= cooldown_since for c, when in past)
            ):
                verdicts[member.id] = Verdict(COOLDOWN)
                continue
            until = quiet_until(now, zone(member.timezone, community.timezone), start, end)
            verdicts[member.id] = Verdict(QUIET, until) if until else Verdict()
        return verdicts
