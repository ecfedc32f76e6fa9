"""`PromoteService`: plans a promotion, previews it, and queues it once confirmed.

The steps live in their own modules (audiences, scoring, deliveries, preview, audit,
suggestions); this class runs them in order, with the store's connections, the
delivery policy and the moderator checks.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Awaitable, Callable

from bot.core.delivery.policy import DeliveryPolicy
from bot.core.services.campaigns import POLL_SECONDS, CampaignReports
from bot.core.services.context import ServiceContext
from bot.core.services.promote.audiences import AudienceFinder
from bot.core.services.promote.audit import audit_preview, audit_send, open_draft
from bot.core.services.promote.deliveries import promotion_deliveries
from bot.core.services.promote.plan import Audience, ChannelNotWritable, Plan, PromotionError
from bot.core.services.promote.preview import preview_reply
from bot.core.services.promote.scoring import channel_topics, click_rate, expected_channel_clicks
from bot.core.services.promote.suggestions import PromoteSuggestions
from bot.domain.actors import Actor
from bot.domain.permissions import is_moderator
from bot.domain.replies import Paragraph, Reply, Suggestion
from bot.i18n import Translator
from bot.store import outbox
from bot.store.channels import channel_row
from bot.store.communities import CommunityInfo, find_community
from bot.store.courses import course_rows
from bot.store.members import find_member, members_by_ids

log = logging.getLogger(__name__)

STATUS = "status"  # `/promote status [campaign]`

# (community, channel) platform ids -> the permissions the bot lacks to post there.
ChannelCheck = Callable[[str, str], Awaitable[list[str]]]


class PromoteService:
    """Plans, previews and sends promotions."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        settings = context.cohort.settings
        self.policy = DeliveryPolicy(settings.delivery, context.cohort.gate)
        self.reports = CampaignReports(context)
        self.audiences = AudienceFinder(context)
        self.suggestions = PromoteSuggestions(context)
        # Per platform, set by the adapter that can see the bot's channel permissions.
        self.channel_checks: dict[str, ChannelCheck] = {}

    # -- planning ----------------------------------------------------------------------

    async def plan(self, community: CommunityInfo, course_id: str, audience: Audience) -> Plan:
        """Work out the audience and its verdicts (nothing is written)."""
        now = self.context.clock()
        async with self.context.store.read() as conn:
            courses = {row["id"]: row for row in await course_rows(conn)}
            course = courses.get(course_id)
            if course is None:
                close = difflib.get_close_matches(course_id, list(courses), n=3, cutoff=0.6)
                hint = f" (did you mean {', '.join(close)}?)" if close else ""
                raise PromotionError(f"unknown or inactive course {course_id!r}{hint}")
            plan = Plan(
                course=course, community=community, audience=audience, day=now.date().isoformat()
            )
            if audience.kind == "channel":
                assert audience.value is not None
                plan.channel = audience.value
                plan.channel_id = await channel_row(conn, community.id, audience.value)
                if plan.channel_id is None:
                    raise PromotionError(f"unknown channel {audience.value!r} in {community.ref}")
                await self._check_channel(community, audience.value)
                plan.channel_terms = await channel_topics(conn, community.id, audience.value)
                plan.predicted_clicks = await expected_channel_clicks(conn)
                return plan
            ids = await self.audiences.member_ids(conn, community, course_id, audience)
            members = await members_by_ids(conn, ids)
            plan.members = [members[i] for i in ids if i in members]
            plan.verdicts = await self.policy.check(conn, plan.members, community, course_id, now)
            rate = await click_rate(conn)
        sendable = sum(1 for v in plan.verdicts.values() if v.sendable)
        plan.predicted_clicks = sendable * rate
        return plan

    async def _check_channel(self, community: CommunityInfo, channel: str) -> None:
        """Refuse a channel post the bot lacks the permissions for (when the adapter can tell)."""
        check = self.channel_checks.get(community.platform)
        if check is None:
            return
        missing = await check(community.platform_id, channel)
        if missing:
            raise ChannelNotWritable(channel, missing)

    async def _community(self, actor: Actor) -> CommunityInfo:
        assert actor.community is not None
        async with self.context.store.read() as conn:
            community = await find_community(conn, actor.platform, actor.community)
        if community is None:
            raise PromotionError("Cohort has not seen this community yet")
        return community

    async def suggest(self, actor: Actor, option: str, typed: str) -> list[Suggestion]:
        """Values of `/promote`'s `option` that match what a moderator has typed so far."""
        return await self.suggestions.suggest(actor, option, typed)

    # -- previews and sending ------------------------------------------------------------

    async def preview(self, actor: Actor, course: str, audience: str) -> Reply:
        """A moderator's dry run, with Confirm/Cancel buttons (nothing is sent).

        `/promote status [campaign]` reports what became of recent promotions instead.
        """
        if course.strip().casefold() == STATUS:
            return await self.status(actor, audience.strip() or None)
        denied = await self.context.moderator_denial(actor, "promote", f"{course} {audience}")
        if denied is not None:
            return denied
        t = self.context.t(actor)
        try:
            plan = await self.plan(await self._community(actor), course, Audience.parse(audience))
        except PromotionError as exc:
            return Reply((Paragraph.of(exc.text(t)),), private=True)
        async with self.context.store.write() as conn:
            member = await find_member(conn, actor.platform, actor.member)
            draft = await audit_preview(
                conn,
                plan,
                ts=self.context.clock(),
                actor_member_id=member.id if member else None,
                target=f"{course} {audience}",
                by=self.context.pseudonym(actor),
            )
        return preview_reply(plan, draft, t)

    async def status(self, actor: Actor, campaign: str | None = None) -> Reply:
        """What became of the community's recent promotions (or of `campaign`)."""
        denied = await self.context.moderator_denial(actor, "promote", STATUS)
        if denied is not None:
            return denied
        community = await self._community(actor)
        statuses = await self.reports.recent(community, campaign)
        return self.reports.reply(self.context.t(actor), statuses)

    async def follow_up(
        self, actor: Actor, draft: str, *, wait_at_most: float, poll: float = POLL_SECONDS
    ) -> Reply | None:
        """The real outcome of the promotion confirmed from preview `draft`, once finished.

        Waits at most `wait_at_most` seconds (then reports what is still pending); None when
        the draft sent nothing or the actor may not see it.
        """
        if not draft.isdigit() or actor.community is None:
            return None
        roles = self.context.cohort.settings.discord.moderator_roles
        if not is_moderator(actor, roles):
            return None
        community = await self._community(actor)
        return await self.reports.wait(
            community, int(draft), self.context.t(actor), poll=poll, wait_at_most=wait_at_most
        )

    async def confirm(self, actor: Actor, draft: str) -> Reply:
        """Send the promotion a preview described (only its author, within 30 minutes)."""
        denied = await self.context.moderator_denial(actor, "promote", f"draft {draft}")
        if denied is not None:
            return denied
        t = self.context.t(actor)
        if draft == "cancel":
            return Reply((Paragraph.of(t("Cancel")),), private=True)
        expired = Reply(
            (Paragraph.of(t("This preview has expired: run /promote again.")),), private=True
        )
        async with self.context.store.read() as conn:
            entry = await open_draft(
                conn, draft, by=self.context.pseudonym(actor), now=self.context.clock()
            )
        if entry is None:
            return expired
        community = await self._community(actor)
        if entry.community_id != community.id:  # previewed in another community
            return expired
        try:
            plan = await self.plan(
                community, entry.details["course"], Audience.parse(entry.details["audience"])
            )
        except PromotionError as exc:  # e.g. the bot lost a permission since the preview
            return Reply((Paragraph.of(exc.text(t)),), private=True)
        return await self.send(plan, actor=actor)

    async def send(self, plan: Plan, *, actor: Actor | None = None) -> Reply:
        """Queue the promotion's deliveries (idempotent per campaign) and audit it.

        `actor` None is the operator at the command line.
        """
        now = self.context.clock()
        t = self.context.t(actor, plan.community.locale)
        deliveries = promotion_deliveries(
            plan, t, self._translator_for, self.context.cohort.settings.web.public_url
        )
        async with self.context.store.write() as conn:
            queued = await outbox.enqueue(conn, deliveries, now)
            member = (await find_member(conn, actor.platform, actor.member)) if actor else None
            await audit_send(
                conn,
                plan,
                ts=now,
                actor_member_id=member.id if member else None,
                queued=queued,
                by="operator" if actor is None else "moderator",
            )
        log.info("promotion %s queued %d deliveries", plan.campaign, queued)
        # Only queued: the dispatcher sends later; `/promote status` tells what happened.
        if plan.audience.kind == "channel":
            text = t("Queued for the channel. /promote status shows when it is posted.")
        else:
            text = t("Queued for {n} members. /promote status shows what was sent.", n=queued)
        return Reply((Paragraph.of(text),), private=True)

    def _translator_for(self, locale: str | None) -> Translator:
        return self.context.t(locale=locale)
