"""What moderators are told about a promotion after it is queued: the real outcome.

A confirmed promotion is only queued; the dispatcher sends it later and records each
delivery's final state on its outbox row. `CampaignReports` reads those rows
(`bot.store.campaigns`) and says what happened: how many were sent, found
unreachable, cancelled, failed (with the error) or are still pending. It answers
`/promote status` and `cohort promote status`, and `wait` gives the follow-up an
adapter sends the moderator once the campaign has finished (or when it has to stop
waiting, with what is still pending).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from bot.core.services.context import ServiceContext
from bot.domain.replies import Items, Paragraph, Reply
from bot.i18n import Translator
from bot.store import campaigns as store
from bot.store.communities import CommunityInfo

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
RECENT = 5
SEARCHED = 200  # campaigns looked through for one asked for by id


@dataclass(frozen=True, slots=True)
class CampaignStatus:
    """One campaign and its outcome so far."""

    course: str
    audience: str
    outcome: store.CampaignOutcome

    def as_dict(self) -> dict[str, object]:
        """JSON form (`cohort promote status --json`)."""
        return {
            "campaign": self.outcome.campaign,
            "course": self.course,
            "audience": self.audience,
            "finished": self.outcome.finished,
            "statuses": dict(self.outcome.statuses),
            "error": self.outcome.error,
        }


def describe(t: Translator, status: CampaignStatus) -> Paragraph:
    """One line: what became of the campaign's deliveries."""
    outcome = status.outcome
    head = f"{status.course} → {status.audience}: "
    if status.audience.startswith("channel:"):
        if outcome.count("sent"):
            return Paragraph.of(head + t("posted in the channel."))
        if not outcome.finished:
            return Paragraph.of(head + t("not posted yet."))
        return Paragraph.of(
            head + t("could not post in the channel: {error}", error=outcome.error or "?")
        )
    text = t(
        "{sent} sent, {unreachable} unreachable, {cancelled} cancelled, {failed} failed, "
        "{pending} pending.",
        sent=outcome.count("sent"),
        unreachable=outcome.count("unreachable"),
        cancelled=outcome.count("cancelled"),
        failed=outcome.count("failed", "uncertain"),
        pending=outcome.count(*store.OPEN),
    )
    if outcome.error and outcome.count("failed"):
        text += " " + t("Last error: {error}", error=outcome.error)
    if outcome.slowed:
        text += " " + t.plural(
            "The platform asked Cohort to open DMs more slowly once: it paused, then went on "
            "at a lower rate; nobody was marked unreachable.",
            "The platform asked Cohort to open DMs more slowly {n} times: it paused, then went "
            "on at a lower rate; nobody was marked unreachable.",
            outcome.slowed,
        )
    return Paragraph.of(head + text)


class CampaignReports:
    """Reads what became of promotions, for moderators and the operator."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def recent(
        self, community: CommunityInfo, campaign: str | None = None
    ) -> list[CampaignStatus]:
        """The latest campaigns in `community` (or just `campaign`), with their outcomes."""
        async with self.context.store.read() as conn:
            sent = await store.recent_campaigns(
                conn, community.id, limit=RECENT if not campaign else 1000
            )
            if campaign is not None:
                sent = [c for c in sent if c.campaign == campaign]
            return [
                CampaignStatus(c.course, c.audience, await store.campaign_outcome(conn, c.campaign))
                for c in sent
            ]

    def reply(self, t: Translator, statuses: list[CampaignStatus]) -> Reply:
        """The moderator's view of `statuses` (private)."""
        if not statuses:
            return Reply((Paragraph.of(t("No promotions sent here yet.")),), private=True)
        items = Items(tuple(describe(t, status) for status in statuses))
        return Reply((items,), title=t("Promotions"), private=True)

    async def wait(
        self,
        community: CommunityInfo,
        draft: int,
        t: Translator,
        *,
        poll: float = POLL_SECONDS,
        wait_at_most: float,
    ) -> Reply | None:
        """Once the campaign confirmed from preview `draft` has finished, what happened.

        Polls the outbox every `poll` seconds; after `wait_at_most` it answers with the
        outcome so far (pending ones included). None if the draft led to no campaign.
        """
        async with self.context.store.read() as conn:
            campaign = await store.draft_campaign(conn, draft)
        if campaign is None:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_at_most
        while True:
            statuses = await self.recent(community, campaign)
            if not statuses or statuses[0].outcome.total == 0:
                return None
            if statuses[0].outcome.finished or loop.time() >= deadline:
                return self.reply(t, statuses)
            await asyncio.sleep(poll)
