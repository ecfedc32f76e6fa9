"""`/promote`: moderators put a course in front of an audience, after a preview.

Audiences: `channel:<id>` (one post, framed by what the channel talks about),
`segment:<id, name or rule>` (newcomers, recently_inactive, champions),
`top:<N>` (the N members most likely to want the course), `opted-in` (everyone who
accepted DMs). Direct messages only ever go to members who opted in to DMs; caps,
cooldowns and quiet hours apply (see `bot.core.delivery.policy`).

A preview (dry run) says how many are in the audience, how many each rule blocks,
and how many clicks to expect. Sending needs an explicit confirmation, is idempotent
for the same course, audience and day (a repeated confirm queues nothing new), and
is written to the audit log, as is every refused attempt.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select

from bot.core.delivery.policy import BLOCKING_RULES, QUIET, DeliveryPolicy, Verdict
from bot.core.links import tracking_url
from bot.core.services.campaigns import POLL_SECONDS, CampaignReports
from bot.core.services.context import ServiceContext
from bot.domain.actors import Actor
from bot.domain.permissions import is_moderator
from bot.domain.replies import (
    Button,
    ButtonStyle,
    Paragraph,
    Reply,
    Style,
    Suggestion,
    Text,
    reply_to_dict,
)
from bot.errors import CohortError
from bot.i18n import (
    DEFAULT_LOCALE,
    SUPPORTED_LOCALES,
    SegmentText,
    Translator,
    rule_segment_name,
    segment_name,
    translator,
)
from bot.store import engagement as q
from bot.store import outbox
from bot.store import schema as s
from bot.store.tracking import new_token
from recsys.text import tokenize

log = logging.getLogger(__name__)

RULES = ("newcomers", "recently_inactive", "champions")
MAX_SUGGESTIONS = 25  # Discord shows at most 25 autocomplete choices
TOP_SIZES = (10, 50, 100)
PROMPT_TTL = timedelta(minutes=30)
STATUS = "status"  # `/promote status [campaign]`

# (community, channel) platform ids -> the permissions the bot lacks to post there.
ChannelCheck = Callable[[str, str], Awaitable[list[str]]]


class PromotionError(CohortError, ValueError):
    """The promotion cannot be planned as asked (unknown course, audience, ...)."""

    def text(self, t: Translator) -> str:
        """What to tell the moderator with translator `t` (the English message unless given)."""
        return str(self)


class ChannelNotWritable(PromotionError):
    """The bot lacks permissions to post in the channel (Discord's names of them)."""

    def __init__(self, channel: str, missing: list[str]) -> None:
        self.channel = channel
        self.missing = tuple(missing)
        super().__init__(self.text(translator(DEFAULT_LOCALE)))

    def text(self, t: Translator) -> str:
        """The refusal, naming the channel and the missing permissions, in `t`'s language."""
        return t(
            "Cohort cannot post in channel {channel}: missing permission {permissions}"
            " (grant it to Cohort's role in the channel settings)",
            channel=self.channel,
            permissions=", ".join(self.missing),
        )


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a promotion is for."""

    kind: str  # channel | segment | top | opted-in
    value: str | None = None

    @classmethod
    def parse(cls, text: str) -> Audience:
        """`channel:<id>`, `segment:<id|name>`, `top:<N>` or `opted-in`."""
        kind, _, value = text.strip().partition(":")
        kind = kind.lower()
        if kind in ("opted-in", "opted_in", "all") and not value:
            return cls("opted-in")
        if kind == "top":
            if not value.isdigit() or not 1 <= int(value) <= 100_000:
                raise PromotionError(f"audience {text!r}: top:N needs a number from 1 to 100000")
            return cls("top", value)
        if kind in ("channel", "segment") and value:
            return cls(kind, value)
        raise PromotionError(
            f"audience {text!r}: use channel:<id>, segment:<id or name>, top:<N> or opted-in"
        )

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}:{self.value}"


@dataclass
class Plan:
    """A promotion worked out, not sent: who, what is blocked, what to expect."""

    course: dict[str, Any]
    community: q.CommunityInfo
    audience: Audience
    members: list[q.MemberInfo] = field(default_factory=list)
    verdicts: dict[int, Verdict] = field(default_factory=dict)
    channel: str | None = None
    channel_id: int | None = None
    channel_terms: list[str] = field(default_factory=list)
    predicted_clicks: float = 0.0
    day: str = ""

    @property
    def campaign(self) -> str:
        """Stable id of this course + audience + day (repeat confirms queue nothing new)."""
        key = self.community.id, self.course["id"], str(self.audience), self.day
        return hashlib.blake2b(repr(key).encode(), digest_size=8).hexdigest()

    def counts(self) -> dict[str, int]:
        """Audience size, deliverable now, deferred by quiet hours, and blocked per rule.

        Every blocking rule is listed, with 0 where it blocked nobody, so a preview
        always says what was checked.
        """
        if self.audience.kind == "channel":  # one post: no member rules apply
            out = {"audience": 1, "deliverable": 1, "deferred": 0}
            return out | {f"blocked_{reason}": 0 for reason in BLOCKING_RULES}
        reasons = Counter(v.blocked for v in self.verdicts.values())
        out = {
            "audience": len(self.members),
            "deliverable": reasons.get(None, 0),
            "deferred": reasons.get(QUIET, 0),
        }
        for reason in BLOCKING_RULES:
            out[f"blocked_{reason}"] = reasons.get(reason, 0)
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON summary (the CLI's --dry-run --json)."""
        counts = self.counts()
        return {
            "course": self.course["id"],
            "community": self.community.ref,
            "audience": str(self.audience),
            "audience_size": counts.pop("audience"),
            "campaign": self.campaign,
            **counts,
            "predicted_clicks": round(self.predicted_clicks, 1),
            "channel_topics": self.channel_terms,
        }


class PromoteService:
    """Plans, previews and sends promotions."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        settings = context.cohort.settings
        self.policy = DeliveryPolicy(settings.delivery, context.cohort.gate)
        self.reports = CampaignReports(context)
        # Per platform, set by the adapter that can see the bot's channel permissions.
        self.channel_checks: dict[str, ChannelCheck] = {}

    # -- planning ----------------------------------------------------------------------

    async def plan(self, community: q.CommunityInfo, course_id: str, audience: Audience) -> Plan:
        """Work out the audience and its verdicts (nothing is written)."""
        now = self.context.clock()
        async with self.context.store.read() as conn:
            courses = {row["id"]: row for row in await q.course_rows(conn)}
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
                plan.channel_id = await q.channel_row(conn, community.id, audience.value)
                if plan.channel_id is None:
                    raise PromotionError(f"unknown channel {audience.value!r} in {community.ref}")
                await self._check_channel(community, audience.value)
                document = await q.channel_document(conn, community.id, audience.value)
                plan.channel_terms = [t for t, _ in Counter(tokenize(document)).most_common(3)]
                plan.predicted_clicks = await self._expected_channel_clicks(conn)
                return plan
            ids = await self._audience_ids(conn, community, course_id, audience)
            members = await q.members_by_ids(conn, ids)
            plan.members = [members[i] for i in ids if i in members]
            plan.verdicts = await self.policy.check(conn, plan.members, community, course_id, now)
            rate = await self._click_rate(conn)
        sendable = sum(1 for v in plan.verdicts.values() if v.sendable)
        plan.predicted_clicks = sendable * rate
        return plan

    async def _check_channel(self, community: q.CommunityInfo, channel: str) -> None:
        """Refuse a channel post the bot lacks the permissions for (when the adapter can tell)."""
        check = self.channel_checks.get(community.platform)
        if check is None:
            return
        missing = await check(community.platform_id, channel)
        if missing:
            raise ChannelNotWritable(channel, missing)

    async def _audience_ids(
        self, conn: Any, community: q.CommunityInfo, course: str, audience: Audience
    ) -> list[int]:
        if audience.kind == "opted-in":
            return await q.dm_audience(conn, community.id)
        model = await self.context.models.current()
        models = model.community(community.ref) if model else None
        if audience.kind == "segment":
            if models is None:
                raise PromotionError("segments need a trained model: run `cohort train`")
            value = audience.value or ""
            if value in RULES:
                return await self._profiled(
                    conn, community, [int(m) for m in models.rules.get(value, [])]
                )
            segments = models.segments.describe() if models.segments else []
            match = [s.id for s in segments if str(s.id) == value or _names(s, value)]
            if not match or models.segments is None:
                t = self.context.t(locale=community.locale)
                known = ", ".join([*(f"{s.id} ({segment_name(t, s)})" for s in segments), *RULES])
                raise PromotionError(f"unknown segment {value!r} (known: {known})")
            return await self._profiled(
                conn,
                community,
                sorted(
                    int(m) for m, seg in models.segments.assignments().items() if seg == match[0]
                ),
            )
        # top:N by predicted interest, among members the model knows in this community
        if model is None:
            raise PromotionError("top:N needs a trained model: run `cohort train`")
        if not model.knows_course(course):
            raise PromotionError(f"course {course!r} is newer than the model: run `cohort train`")
        # Only members who opted in to DMs here: top:N means N messages, not N verdicts.
        in_community = await self._profiled(
            conn, community, await q.dm_audience(conn, community.id)
        )
        top = int(audience.value or "0")
        # Scoring every member of a large community is seconds of work: not on the loop.
        ranked = await asyncio.to_thread(
            model.top_members, course, top, among={str(i) for i in in_community}
        )
        return [int(key) for key in ranked]

    async def _profiled(self, conn: Any, community: q.CommunityInfo, ids: list[int]) -> list[int]:
        """The members among `ids` still in the community who still consent to profiling.

        Segments and scores come from the last training; whoever left or objected
        since is no longer targeted by them.
        """
        ms = s.memberships.c
        current: set[int] = set()
        for start in range(0, len(ids), 900):
            result = await conn.execute(
                select(ms.member_id).where(
                    ms.community_id == community.id,
                    ms.member_id.in_(ids[start : start + 900]),
                    or_(ms.left_at.is_(None), ms.joined_at > ms.left_at),
                )
            )
            current.update(result.scalars())
        members = await q.members_by_ids(conn, current)
        gate = self.context.cohort.gate
        return [
            member_id
            for member_id in ids
            if (member := members.get(member_id)) is not None
            and gate.identifies(member.platform, community.platform_id, member.platform_id)
        ]

    async def _click_rate(self, conn: Any) -> float:
        """Clicks per promotional DM shown so far, smoothed towards 5 %."""
        i = s.interactions.c
        shown = await conn.scalar(
            select(func.count()).where(i.kind == "impression", i.variant == "promotion")
        )
        clicked = await conn.scalar(
            select(func.count()).where(i.kind == "click", i.variant == "promotion")
        )
        return (float(clicked or 0) + 1.0) / (float(shown or 0) + 20.0)

    async def _expected_channel_clicks(self, conn: Any) -> float:
        """Clicks per channel post so far, smoothed towards one."""
        i = s.interactions.c
        posts = await conn.scalar(
            select(func.count()).where(i.kind == "impression", i.variant == "promotion:channel")
        )
        clicks = await conn.scalar(
            select(func.count()).where(i.kind == "click", i.variant == "promotion:channel")
        )
        return (float(clicks or 0) + 1.0) / (float(posts or 0) + 1.0)

    # -- previews and sending ------------------------------------------------------------

    async def _community(self, actor: Actor) -> q.CommunityInfo:
        assert actor.community is not None
        async with self.context.store.read() as conn:
            community = await q.community(conn, actor.platform, actor.community)
        if community is None:
            raise PromotionError("Cohort has not seen this community yet")
        return community

    # -- suggestions while typing -------------------------------------------------------

    async def suggest(self, actor: Actor, option: str, typed: str) -> list[Suggestion]:
        """Values of `/promote`'s `option` that match what a moderator has typed so far.

        Courses by id or title; audiences: opted-in, top:N, the community's channels
        and the trained segments. Only moderators of the community get any, and
        nothing is audited: this runs on every keystroke.
        """
        roles = self.context.cohort.settings.discord.moderator_roles
        if actor.community is None or not is_moderator(actor, roles):
            return []
        needle = typed.strip().casefold()
        if option == "course":
            candidates = await self._course_suggestions()
        elif option == "audience":
            candidates = await self._audience_suggestions(actor, needle)
        else:
            return []
        return [
            c for c in candidates if needle in c.label.casefold() or needle in c.value.casefold()
        ][:MAX_SUGGESTIONS]

    async def _course_suggestions(self) -> list[Suggestion]:
        async with self.context.store.read() as conn:
            rows = await q.course_rows(conn)
        return [Suggestion(_clip(f"{row['title']} ({row['id']})"), row["id"]) for row in rows]

    async def _audience_suggestions(self, actor: Actor, needle: str) -> list[Suggestion]:
        assert actor.community is not None
        t = self.context.t(actor)
        async with self.context.store.read() as conn:
            community = await q.community(conn, actor.platform, actor.community)
            channels = await q.channels(conn, community.id) if community else []
        sizes = list(TOP_SIZES)
        typed_top = needle.removeprefix("top:")
        if needle.startswith("top:") and typed_top.isdigit() and 1 <= int(typed_top) <= 100_000:
            sizes = [int(typed_top)]
        out = [Suggestion(t("Everyone who opted in to messages"), "opted-in")]
        out += [
            Suggestion(t("Top {n} members by predicted interest", n=n), f"top:{n}") for n in sizes
        ]
        out += [
            Suggestion(_clip(f"#{name or channel}"), f"channel:{channel}")
            for channel, name in channels
            if len(channel) <= 92
        ]
        model = await self.context.models.current()
        models = model.community(community.ref) if model and community else None
        if models is not None:
            if models.segments is not None:
                out += [
                    Suggestion(
                        _clip(
                            t(
                                "Segment: {name} ({n} members)",
                                name=segment_name(t, seg),
                                n=seg.size,
                            )
                        ),
                        f"segment:{seg.id}",
                    )
                    for seg in models.segments.describe()
                ]
            out += [
                Suggestion(t("Segment: {name}", name=rule_segment_name(t, rule)), f"segment:{rule}")
                for rule in RULES
            ]
        return out

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
            member = await q.member(conn, actor.platform, actor.member)
            # The draft is this row's own id (not the newest row: another moderator's
            # preview may commit in between).
            draft = await conn.scalar(
                s.audit_log.insert()
                .values(
                    ts=self.context.clock(),
                    community_id=plan.community.id,
                    actor_member_id=member.id if member else None,
                    action="promote.preview",
                    target=f"{course} {audience}",
                    outcome="ok",
                    details={**plan.as_dict(), "by": self.context.pseudonym(actor)},
                )
                .returning(s.audit_log.c.id)
            )
        counts = plan.counts()
        lines = [
            Paragraph.of(
                t(
                    "Preview: {audience} members in the audience, {blocked} blocked, "
                    "about {clicks} clicks expected.",
                    audience=counts["audience"],
                    blocked=counts["audience"] - counts["deliverable"] - counts["deferred"],
                    clicks=round(plan.predicted_clicks, 1),
                )
            )
        ]
        blocked = {key: n for key, n in counts.items() if key.startswith("blocked_")}
        for key, n in blocked.items():
            if not n:
                continue
            if key == "blocked_capped":
                lines.append(Paragraph.of(t("Blocked by frequency caps: {n}", n=n)))
            elif key == "blocked_cooldown":
                lines.append(Paragraph.of(t("Blocked: promoted to them recently: {n}", n=n)))
            elif key == "blocked_no_consent":
                lines.append(Paragraph.of(t("Blocked: no consent for DMs: {n}", n=n)))
            elif key == "blocked_unreachable":
                lines.append(Paragraph.of(t("Blocked: DMs closed: {n}", n=n)))
        if counts["deferred"]:
            lines.append(Paragraph.of(t("Blocked by quiet hours: {n}", n=counts["deferred"])))
        buttons = (
            Button(t("Confirm and send"), action=f"pr:{draft}", style=ButtonStyle.PRIMARY),
            Button(t("Cancel"), action="pr:cancel"),
        )
        return Reply(tuple(lines), title=plan.course["title"], buttons=(buttons,), private=True)

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
        if not draft.isdigit():
            return expired
        async with self.context.store.read() as conn:
            row = (
                (
                    await conn.execute(
                        select(s.audit_log).where(
                            s.audit_log.c.id == int(draft),
                            s.audit_log.c.action == "promote.preview",
                        )
                    )
                )
                .mappings()
                .first()
            )
        if (
            row is None
            or row["details"].get("by") != self.context.pseudonym(actor)
            or self.context.clock() - row["ts"] > PROMPT_TTL
        ):
            return expired
        details = row["details"]
        community = await self._community(actor)
        if row["community_id"] != community.id:  # previewed in another community
            return expired
        try:
            plan = await self.plan(
                community, details["course"], Audience.parse(details["audience"])
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
        deliveries = (
            [self._channel_post(plan, t)]
            if plan.audience.kind == "channel"
            else [
                self._direct(plan, member, verdict, t)
                for member in plan.members
                if (verdict := plan.verdicts[member.id]).sendable
            ]
        )
        async with self.context.store.write() as conn:
            queued = await outbox.enqueue(conn, deliveries, now)
            member = (await q.member(conn, actor.platform, actor.member)) if actor else None
            await q.audit(
                conn,
                ts=now,
                action="promote.send",
                outcome="queued",
                community_id=plan.community.id,
                actor_member_id=member.id if member else None,
                target=f"{plan.course['id']} {plan.audience}",
                details={
                    **plan.as_dict(),
                    "queued": queued,
                    "by": "operator" if actor is None else "moderator",
                },
            )
        log.info("promotion %s queued %d deliveries", plan.campaign, queued)
        # Only queued: the dispatcher sends later; `/promote status` tells what happened.
        if plan.audience.kind == "channel":
            text = t("Queued for the channel. /promote status shows when it is posted.")
        else:
            text = t("Queued for {n} members. /promote status shows what was sent.", n=queued)
        return Reply((Paragraph.of(text),), private=True)

    # -- messages ----------------------------------------------------------------------

    def _course_reply(self, plan: Plan, token: str, intro: Paragraph, t: Any) -> Any:
        course = plan.course
        public = self.context.cohort.settings.web.public_url
        blocks: list[Paragraph] = [intro]
        if course["description"]:
            blocks.append(Paragraph.of(course["description"][:300]))
        if course["price"] is not None:
            blocks.append(Paragraph.of(f"{course['price']} {course['currency'] or ''}".strip()))
        buttons = [Button(t("Interested"), action=f"in:{token}", style=ButtonStyle.PRIMARY)]
        if course["url"]:
            buttons.append(
                Button(
                    t("Learn more"),
                    url=tracking_url(
                        public, course["url"], token, plan.community.platform, "promotion"
                    ),
                )
            )
        return reply_to_dict(Reply(tuple(blocks), title=course["title"], buttons=(tuple(buttons),)))

    def _channel_post(self, plan: Plan, t: Any) -> outbox.NewDelivery:
        token = new_token()
        topics = ", ".join(plan.channel_terms) if plan.channel_terms else None
        intro = (
            Paragraph.of(t("You often discuss {topics}.", topics=topics))
            if topics
            else Paragraph.of(Text(plan.course["title"], Style.BOLD))
        )
        return outbox.NewDelivery(
            kind="channel",
            purpose="promotion",
            payload={
                "platform": plan.community.platform,
                "recipient": plan.channel,
                "community": plan.community.platform_id,
                "reply": self._course_reply(plan, token, intro, t),
                "impressions": [
                    {
                        "course": plan.course["id"],
                        "position": 1,
                        "variant": "promotion:channel",
                        "token": token,
                    }
                ],
            },
            dedupe_key=f"promo:{plan.campaign}:channel",
            community_id=plan.community.id,
            channel_id=plan.channel_id,
            course_id=plan.course["id"],
            campaign=plan.campaign,
        )

    def _direct(
        self, plan: Plan, member: q.MemberInfo, verdict: Verdict, t: Any
    ) -> outbox.NewDelivery:
        token = new_token()
        t_member = self.context.t(locale=member.locale or plan.community.locale)
        intro = Paragraph.of(t_member("A course picked for you:"))
        return outbox.NewDelivery(
            kind="dm",
            purpose="promotion",
            payload={
                "platform": member.platform,
                "recipient": member.platform_id,
                "community": plan.community.platform_id,
                "reply": self._course_reply(plan, token, intro, t_member),
                "impressions": [
                    {
                        "course": plan.course["id"],
                        "position": 1,
                        "variant": "promotion",
                        "token": token,
                    }
                ],
            },
            dedupe_key=f"promo:{plan.campaign}:{member.id}",
            community_id=plan.community.id,
            member_id=member.id,
            course_id=plan.course["id"],
            campaign=plan.campaign,
            not_before=verdict.not_before,
        )


def _names(segment: SegmentText, value: str) -> bool:
    """Whether `value` is the segment's name in any supported language (any case).

    Moderators see names in their own language and the CLI in the community's, so
    `segment:<name>` accepts each of them, and the stored English name.
    """
    wanted = value.strip().casefold()
    return any(
        segment_name(translator(locale), segment).casefold() == wanted
        for locale in SUPPORTED_LOCALES
    )


def _clip(label: str, limit: int = 100) -> str:
    """`label` cut to `limit` characters with an ellipsis (Discord's choice name limit)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"
