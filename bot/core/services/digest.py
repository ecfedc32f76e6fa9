"""Weekly digests: a channel post for the community, a personal one for opted-in members.

Each community has a cron schedule in its own timezone (`communities.digest_cron`,
else `[digest] cron`), evaluated in UTC. A digest *period* is the fire time it
belongs to. Before any work, the run (digest, community, period) is claimed in the
database, so one instance does it once; every delivery is then queued with the
dedupe key (period, recipient), so even a resumed or repeated run queues nothing
twice. If an instance dies half-way, another takes the stale claim over and carries
on where it stopped; the dispatcher sends each queued delivery at most once.

Channel digest: the week's most-replied discussions, trending topics, new courses,
and a thank-you to the top helpers. Personal digest (members who opted in to DMs and
still consent to profiling, since the picks come from their profile): their picks.
Members who never consented, or objected since, are never named or messaged.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from bot.core.delivery import owners
from bot.core.delivery.policy import NO_CONSENT, QUIET, DeliveryPolicy, Verdict, zone
from bot.core.links import tracking_url
from bot.core.services.context import ServiceContext
from bot.core.services.insights import top_helpers
from bot.core.services.recommend import RecommendService, reason_text
from bot.domain.actors import Actor
from bot.domain.permissions import is_moderator
from bot.domain.replies import (
    Button,
    Items,
    Paragraph,
    Reply,
    Style,
    Suggestion,
    Text,
    reply_to_dict,
)
from bot.i18n import Translator
from bot.store import outbox, runs
from bot.store.audiences import dm_audience
from bot.store.audit import write_audit
from bot.store.communities import CommunityInfo, all_communities, find_community
from bot.store.courses import course_rows
from bot.store.members import MemberInfo, find_member, members_by_ids
from bot.store.texts import community_term_counts, community_texts, most_discussed
from bot.store.tracking import new_token
from bot.store.writers.counts import week_of
from recsys.text import tokenize

log = logging.getLogger(__name__)

JOB = "digest"
MODERATOR_ACTIONS = ("preview", "now")
WINDOW = timedelta(days=7)
STALE = timedelta(minutes=10)
GRACE = timedelta(hours=12)  # a period missed by longer (bot was down) is skipped
PICKS = 3
CHUNK = 200


@dataclass
class DigestReport:
    """What one digest run did."""

    community: str
    period: str
    claimed: bool = False
    resumed: bool = False
    channel_post: bool = False
    personal: int = 0
    deferred: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    run_id: int | None = None
    done: bool = False  # not claimed because the run was already built (else in progress)


class DigestService:
    """Builds and queues digests."""

    def __init__(
        self, context: ServiceContext, recommend: RecommendService, instance: str = "cohort"
    ) -> None:
        self.context = context
        self.recommend = recommend
        self.instance = instance
        settings = context.cohort.settings
        self.policy = DeliveryPolicy(settings.delivery, context.cohort.gate)

    # -- schedule ----------------------------------------------------------------------

    def trigger(self, community: CommunityInfo) -> CronTrigger:
        """The community's schedule, in its timezone."""
        cron = community.digest_cron or self.context.cohort.settings.digest.cron
        return CronTrigger.from_crontab(cron, timezone=zone(community.timezone, "UTC"))

    def _fires(self, community: CommunityInfo, start: datetime) -> Iterator[datetime]:
        """The schedule's fire times from `start` on, in UTC, each local time once.

        Steps are taken in UTC: local wall-clock arithmetic would step back into the
        first occurrence of a repeated hour (DST ends) and never get past it. A local
        time that happens twice that night fires only the first time.
        """
        trigger = self.trigger(community)
        fire = trigger.get_next_fire_time(None, start)
        while fire is not None:
            if not (fire.fold == 1 and fire.replace(fold=0).utcoffset() != fire.utcoffset()):
                yield fire.astimezone(UTC)
            after = fire.astimezone(UTC) + timedelta(seconds=1)
            fire = trigger.get_next_fire_time(fire, after)

    def period(
        self, community: CommunityInfo, now: datetime, lookback: timedelta = timedelta(days=35)
    ) -> datetime | None:
        """The latest fire time in [`now` - `lookback`, `now`] (the period to deliver), in UTC."""
        latest: datetime | None = None
        for fire in self._fires(community, now - lookback):
            if fire > now:
                break
            latest = fire
        return None if latest is None else latest.astimezone(now.tzinfo)

    def next_fire(self, community: CommunityInfo, now: datetime) -> datetime | None:
        """When the community's next digest is due (UTC)."""
        fire = next(self._fires(community, now), None)
        return None if fire is None else fire.astimezone(now.tzinfo)

    async def due(self, now: datetime) -> list[tuple[CommunityInfo, datetime]]:
        """Communities whose current period (not too old) has no run yet, or a stale one.

        A run whose owner stopped heartbeating for `STALE` was interrupted: it is due
        again, and `run` takes it over and resumes it.
        """
        out = []
        async with self.context.store.read() as conn:
            for community in await all_communities(conn):
                period = self.period(community, now, GRACE)
                if period is None:
                    continue  # not due, or missed by more than GRACE (the bot was down)
                if await runs.claimable(
                    conn, JOB, str(community.id), period.isoformat(), now, STALE
                ):
                    out.append((community, period))
        return out

    # -- running -----------------------------------------------------------------------

    async def run(
        self, community: CommunityInfo, period: datetime, *, personal: bool | None = None
    ) -> DigestReport:
        """Claim and queue the digest of `community` for `period` (no-op if done)."""
        now = self.context.clock()
        report = DigestReport(community=community.ref, period=period.isoformat())
        async with self.context.store.write() as conn:
            existing = await runs.find(conn, JOB, str(community.id), period.isoformat())
            # A run whose builder died on this host is taken over at once, not after STALE.
            dead = existing is not None and owners.is_dead(existing.claimed_by)
            claimed = await runs.claim(
                conn,
                JOB,
                str(community.id),
                period.isoformat(),
                self.instance,
                now,
                timedelta(0) if dead else STALE,
            )
        if claimed is None:
            if existing is not None:
                report.run_id = existing.id
                report.done = existing.status == runs.DONE
            return report
        report.claimed, report.resumed, report.run_id = True, claimed.resumed, claimed.id
        if community.digest_channel:
            report.channel_post = await self._channel(community, period, claimed.id) > 0
        if personal if personal is not None else self.context.cohort.settings.digest.personal:
            await self._personal(community, period, claimed.id, report)
        async with self.context.store.write() as conn:
            await runs.finish(conn, claimed.id, self.context.clock())
        log.info(
            "digest %s %s: channel %s, %d personal (%d deferred)",
            community.ref,
            period.isoformat(),
            report.channel_post,
            report.personal,
            report.deferred,
        )
        return report

    async def _channel(self, community: CommunityInfo, period: datetime, run_id: int) -> int:
        reply = await self.channel_digest(community, period)
        delivery = outbox.NewDelivery(
            kind="channel",
            purpose="digest",
            payload={
                "platform": community.platform,
                "recipient": community.digest_channel,
                "community": community.platform_id,
                "reply": reply_to_dict(reply),
            },
            dedupe_key=f"digest:{community.id}:{period.isoformat()}:channel",
            community_id=community.id,
            run_id=run_id,
        )
        async with self.context.store.write() as conn:
            return await outbox.enqueue(conn, [delivery], self.context.clock())

    async def _personal(
        self, community: CommunityInfo, period: datetime, run_id: int, report: DigestReport
    ) -> None:
        gate = self.context.cohort.gate
        async with self.context.store.read() as conn:
            audience = await dm_audience(conn, community.id)
            members = await members_by_ids(conn, audience)
            queued = await outbox.run_members(conn, run_id)  # before an interruption
        audience = [i for i in audience if i not in queued]
        for start in range(0, len(audience), CHUNK):
            chunk = [members[i] for i in audience[start : start + CHUNK] if i in members]
            now = self.context.clock()
            async with self.context.store.read() as conn:
                verdicts = await self.policy.check(
                    conn, chunk, community, None, now, promotion=False
                )
            deliveries = []
            for member in chunk:
                verdict = verdicts[member.id]
                if verdict.sendable and not gate.identifies(
                    member.platform, community.platform_id, member.platform_id
                ):
                    # Their picks come from their profile: not after they objected.
                    verdict = Verdict(NO_CONSENT)
                if not verdict.sendable:
                    reason = verdict.blocked or "?"
                    report.skipped[reason] = report.skipped.get(reason, 0) + 1
                    continue
                deliveries.append(
                    await self._personal_delivery(
                        community,
                        period,
                        run_id,
                        member,
                        verdict.not_before if verdict.blocked == QUIET else None,
                    )
                )
                if verdict.blocked == QUIET:
                    report.deferred += 1
            async with self.context.store.write() as conn:
                report.personal += await outbox.enqueue(conn, deliveries, self.context.clock())
                await runs.beat(conn, run_id, self.context.clock())

    async def _personal_delivery(
        self,
        community: CommunityInfo,
        period: datetime,
        run_id: int,
        member: MemberInfo,
        not_before: datetime | None,
    ) -> outbox.NewDelivery:
        t = self.context.t(locale=member.locale or community.locale)
        variant, choices = await self.recommend.choices_for(member, PICKS)
        async with self.context.store.read() as conn:
            courses = {row["id"]: row for row in await course_rows(conn)}
        public = self.context.cohort.settings.web.public_url
        items, impressions, buttons = [], [], []
        for position, choice in enumerate(choices, 1):
            token = new_token()
            course = courses[choice.course]
            items.append(
                Paragraph.of(
                    Text(course["title"], Style.BOLD), " — ", reason_text(t, choice.reason, courses)
                )
            )
            impressions.append(
                {
                    "course": choice.course,
                    "position": position,
                    "variant": f"digest:{variant}",
                    "token": token,
                }
            )
            if course["url"]:
                buttons.append(
                    Button(
                        f"{position}. {t('Learn more')}",
                        url=tracking_url(
                            public, course["url"], token, member.platform, f"digest:{variant}"
                        ),
                    )
                )
        reply = Reply(
            (Items(tuple(items), numbered=True),)
            if items
            else (Paragraph.of(t("No courses are available right now.")),),
            title=t("Your course picks"),
            buttons=(tuple(buttons),) if buttons else (),
        )
        return outbox.NewDelivery(
            kind="dm",
            purpose="digest",
            payload={
                "platform": member.platform,
                "recipient": member.platform_id,
                "community": community.platform_id,
                "reply": reply_to_dict(reply),
                "impressions": impressions,
            },
            dedupe_key=f"digest:{community.id}:{period.isoformat()}:{member.id}",
            community_id=community.id,
            member_id=member.id,
            run_id=run_id,
            not_before=not_before,
        )

    # -- moderators (`/digest preview`, `/digest now`) ---------------------------------

    async def moderate(self, actor: Actor, action: str) -> Reply:
        """`/digest preview` or `/digest now` for a moderator of the actor's community.

        Preview shows the channel post as it would go out now, where it would go and
        to how many members, without queueing anything. Now builds and queues the
        current period's digest at once (the dispatcher sends it at the configured
        rate); a period already done is not sent again, so the schedule and a
        moderator never both send one.
        """
        t = self.context.t(actor)
        choice = action.strip().lower()
        if choice not in MODERATOR_ACTIONS:
            return Reply((Paragraph.of(t("Usage: /digest preview or /digest now")),), private=True)
        denied = await self.context.moderator_denial(actor, f"digest {choice}", "")
        if denied is not None:
            return denied
        async with self.context.store.read() as conn:
            community = await find_community(conn, actor.platform, actor.community or "")
        if community is None:
            return Reply((Paragraph.of(t("Cohort has seen no activity here yet.")),), private=True)
        now = self.context.clock()
        period = self.period(community, now) or now.replace(minute=0, second=0, microsecond=0)
        if choice == "preview":
            return await self._preview(community, period, now, t)
        return await self._now(actor, community, period, now, t)

    async def suggest(self, actor: Actor, option: str, typed: str) -> list[Suggestion]:
        """`/digest`'s actions that match what a moderator typed (none for others)."""
        roles = self.context.cohort.settings.discord.moderator_roles
        if option != "action" or actor.community is None or not is_moderator(actor, roles):
            return []
        t = self.context.t(actor)
        labels = {"preview": t("preview: see it first"), "now": t("now: send it at once")}
        wanted = typed.strip().lower()
        return [Suggestion(labels[a], a) for a in MODERATOR_ACTIONS if a.startswith(wanted)]

    async def _preview(
        self, community: CommunityInfo, period: datetime, now: datetime, t: Translator
    ) -> Reply:
        post = await self.channel_digest(community, period)
        async with self.context.store.read() as conn:
            members = len(await dm_audience(conn, community.id))
        if not self.context.cohort.settings.digest.personal:
            members = 0
        if community.digest_channel:
            where = t.plural(
                "When it goes out: this post in channel {channel}, and personal picks to up "
                "to {n} member who opted in to direct messages.",
                "When it goes out: this post in channel {channel}, and personal picks to up "
                "to {n} members who opted in to direct messages.",
                members,
                channel=community.digest_channel,
            )
        else:
            where = t.plural(
                "No digest channel is set, so only personal picks go out, to up to {n} "
                "member who opted in to direct messages (an operator sets the channel with "
                "cohort digest schedule --channel).",
                "No digest channel is set, so only personal picks go out, to up to {n} "
                "members who opted in to direct messages (an operator sets the channel with "
                "cohort digest schedule --channel).",
                members,
            )
        notes = [Paragraph.of(where)]
        upcoming = self.next_fire(community, now)
        if upcoming is not None:
            notes.append(
                Paragraph.of(
                    t(
                        "Next scheduled digest: {when} UTC. /digest now sends this one at once.",
                        when=upcoming.strftime("%Y-%m-%d %H:%M"),
                    )
                )
            )
        return replace(
            post,
            title=t("Digest preview: {title}", title=post.title) if post.title else post.title,
            blocks=(*post.blocks, *notes),
            private=True,
        )

    async def _now(
        self,
        actor: Actor,
        community: CommunityInfo,
        period: datetime,
        now: datetime,
        t: Translator,
    ) -> Reply:
        report = await self.run(community, period)
        when = period.strftime("%Y-%m-%d %H:%M")
        if not report.claimed:
            text = (
                t(
                    "The digest of {when} UTC was already sent; the next one follows the schedule.",
                    when=when,
                )
                if report.done
                else t("The digest of {when} UTC is being built right now.", when=when)
            )
            return Reply((Paragraph.of(text),), private=True)
        async with self.context.store.write() as conn:
            member = await find_member(conn, actor.platform, actor.member)
            await write_audit(
                conn,
                ts=now,
                action="digest now",
                outcome="queued",
                community_id=community.id,
                actor_member_id=member.id if member else None,
                target=period.isoformat(),
                details={
                    "by": self.context.pseudonym(actor),
                    "channel_post": report.channel_post,
                    "personal": report.personal,
                },
            )
        counts = {"when": when, "personal": report.personal, "deferred": report.deferred}
        text = (
            t(
                "Digest of {when} UTC queued: the channel post and {personal} personal digests "
                "({deferred} wait for the members' quiet hours). They go out at the configured "
                "rate; /insights shows what was delivered.",
                **counts,
            )
            if report.channel_post
            else t(
                "Digest of {when} UTC queued: {personal} personal digests ({deferred} wait for "
                "the members' quiet hours). They go out at the configured rate; /insights "
                "shows what was delivered.",
                **counts,
            )
        )
        return Reply((Paragraph.of(text),), private=True)

    # -- content -------------------------------------------------------------------------

    async def channel_digest(self, community: CommunityInfo, period: datetime) -> Reply:
        """The community's week, as a channel post."""
        t = self.context.t(locale=community.locale)
        gate = self.context.cohort.gate  # quote only members who still consent
        since = period - WINDOW
        async with self.context.store.read() as conn:
            discussed = [
                row
                for row in await most_discussed(conn, community.id, since, limit=10)
                if gate.identifies(row[3], community.platform_id, row[4])
            ][:3]
            this_week = Counter(
                q_
                for text in await community_texts(conn, community.id, since, period)
                for q_ in tokenize(text)
            )
            last_week = Counter(
                q_
                for text in await community_texts(conn, community.id, since - WINDOW, since)
                for q_ in tokenize(text)
            )
            this_week.update(
                await community_term_counts(
                    conn, community.id, week_of((period - timedelta(days=1)).date())
                )
            )
            last_week.update(
                await community_term_counts(
                    conn, community.id, week_of((since - timedelta(days=1)).date())
                )
            )
            courses = [
                row for row in await course_rows(conn) if since <= row["created_at"] < period
            ]
        blocks: list[Paragraph | Items] = []
        if discussed:
            blocks.append(Paragraph.of(Text(t("Most discussed"), Style.BOLD)))
            blocks.append(
                Items(
                    tuple(
                        Paragraph.of(f"#{channel or '?'}: ", _snippet(text), f" ({replies})")
                        for channel, text, replies, _, _ in discussed
                    )
                )
            )
        trending = trending_terms(this_week, last_week)
        if trending:
            blocks.append(
                Paragraph.of(Text(t("Trending topics"), Style.BOLD), " ", ", ".join(trending))
            )
        if courses:
            blocks.append(Paragraph.of(Text(t("New courses"), Style.BOLD)))
            blocks.append(Items(tuple(Paragraph.of(c["title"]) for c in courses)))
        helpers = await top_helpers(self.context, community)
        if helpers:
            blocks.append(
                Paragraph.of(
                    Text(t("Thanks to our top helpers"), Style.BOLD),
                    " ",
                    *_separated(helpers),
                )
            )
        title = t("This week in {community}", community=community.name or community.platform_id)
        if not blocks:
            blocks.append(Paragraph.of(t("No courses are available right now.")))
        return Reply(tuple(blocks), title=title)


def _separated(names: list[str]) -> list[str | Text]:
    """Names as their own spans, comma-separated (erasure can then drop one exactly)."""
    spans: list[str | Text] = []
    for index, name in enumerate(names):
        if index:
            spans.append(", ")
        spans.append(Text(name))
    return spans


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def trending_terms(
    this_week: Counter[str], last_week: Counter[str], top: int = 5, minimum: int = 3
) -> list[str]:
    """Terms talked about more this week than last: growth weighted by volume."""
    scored = [
        (((count + 1) / (last_week.get(term, 0) + 1)) * math.log1p(count), term)
        for term, count in this_week.items()
        if count >= minimum
    ]
    return [term for _, term in sorted(scored, key=lambda pair: (-pair[0], pair[1]))[:top]]
