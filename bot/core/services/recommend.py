"""`/recommend`: a member's picks, privately, with a reason and buttons each.

- A member the consent gate identifies gets personal picks from the trained model
  (owned courses on any linked identity and "not for me" answers left out); a stable
  `holdout` share of them gets the popularity ranking instead (the control group).
- Anyone else gets the picks of the channel they asked in, from what the channel
  talks about (anonymous aggregates), and an invitation to opt in.
- Every pick shown is recorded as an impression with a token; "Interested" and
  "Not for me" carry the token, "Learn more" is a tracking link.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from babel.lists import format_list

from bot.config import RecommendSettings
from bot.core.links import tracking_url
from bot.core.services.consent import optin_button
from bot.core.services.context import ServiceContext
from bot.domain.actors import Actor
from bot.domain.replies import Button, ButtonStyle, Items, Paragraph, Reply, Style, Text
from bot.i18n import Translator
from bot.store.channels import channel_row
from bot.store.communities import find_community
from bot.store.courses import course_rows
from bot.store.interactions import dismissed_courses, owned_courses, purchase_counts
from bot.store.members import MemberInfo, find_member, person_members
from bot.store.texts import channel_document
from bot.store.tracking import Shown, record_impressions
from recsys.policy import Reason

log = logging.getLogger(__name__)

PERSONAL, HOLDOUT, CHANNEL, UNTRAINED = "personal", "holdout", "channel", "untrained"
CourseRows = dict[str, dict[str, Any]]


def in_holdout(key: str, share: float) -> bool:
    """Stable assignment to the control group: the same key always lands the same way."""
    digest = hashlib.blake2b(f"holdout|{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def holdout_key(actor: Actor, member: MemberInfo | None) -> str:
    """The key of the person for the holdout draw: linked identities share it."""
    if member is None:
        return f"ref:{actor.ref}"
    return f"p{member.person_id}" if member.person_id is not None else f"m{member.id}"


@dataclass(frozen=True, slots=True)
class Choice:
    """A course to show, its reason and score."""

    course: str
    reason: Reason
    score: float = 0.0


class RecommendService:
    """Picks for a member (or for their channel when they have not consented)."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    @property
    def settings(self) -> RecommendSettings:
        """[recommend] settings."""
        return self.context.cohort.settings.recommend

    async def recommend(self, actor: Actor, k: int | None = None) -> Reply:
        """The actor's picks as a private reply."""
        count = k or self.settings.k
        gate = self.context.cohort.gate
        identified = (
            gate.identifies(actor.platform, actor.community, actor.member)
            if actor.community
            else gate.identifies_anywhere(actor.platform, actor.member)
        )
        async with self.context.store.read() as conn:
            community = (
                await find_community(conn, actor.platform, actor.community)
                if actor.community
                else None
            )
            courses = {row["id"]: row for row in await course_rows(conn)}
            member = await find_member(conn, actor.platform, actor.member) if identified else None
            channel_id = (
                await channel_row(conn, community.id, actor.channel)
                if community and actor.channel
                else None
            )
            document = (
                await channel_document(conn, community.id, actor.channel)
                if community and not identified
                else ""
            )
            popularity = await purchase_counts(conn)
        if identified:
            variant, choices = await self.choices_for(member, count, actor=actor)
        else:
            variant = CHANNEL
            choices = await self._for_channel(document, courses, popularity, count)
        shown = await self._record(
            [
                Shown(
                    member_id=member.id if (identified and member) else None,
                    course_id=choice.course,
                    position=position,
                    variant=variant,
                    source=actor.platform,
                    community_id=community.id if community else None,
                    channel_id=channel_id,
                )
                for position, choice in enumerate(choices, 1)
            ]
        )
        return self._reply(actor, choices, shown, courses, identified)

    async def choices_for(
        self, member: MemberInfo | None, count: int, *, actor: Actor | None = None
    ) -> tuple[str, list[Choice]]:
        """A consenting member's picks and the variant that produced them.

        The holdout share gets popularity; everyone else the trained model's picks (or
        popularity before the first training, variant `untrained`).
        """
        async with self.context.store.read() as conn:
            courses = {row["id"]: row for row in await course_rows(conn)}
            identities = await person_members(conn, member.id) if member else []
            ids = [m.id for m in identities]
            excluded = await owned_courses(conn, ids) | await dismissed_courses(conn, ids)
            popularity = await purchase_counts(conn)
        key = (
            holdout_key(actor, member)
            if actor
            else (
                f"p{member.person_id}"
                if member and member.person_id
                else f"m{member.id if member else 0}"
            )
        )
        if in_holdout(key, self.settings.holdout):
            return HOLDOUT, self._popular(courses, popularity, excluded, count)
        choices = await self._personal(ids, courses, popularity, excluded, count, actor, member)
        if choices and choices[0].reason.kind == "untrained":
            return UNTRAINED, choices
        return PERSONAL, choices

    # -- choosing ------------------------------------------------------------------------

    def _popular(
        self, courses: CourseRows, popularity: dict[str, int], excluded: set[str], count: int
    ) -> list[Choice]:
        order = sorted(courses, key=lambda c: (-popularity.get(c, 0), c))
        return [Choice(c, Reason("popular")) for c in order if c not in excluded][:count]

    async def _personal(
        self,
        identities: list[int],
        courses: CourseRows,
        popularity: dict[str, int],
        excluded: set[str],
        count: int,
        actor: Actor | None,
        member: MemberInfo | None,
    ) -> list[Choice]:
        model = await self.context.models.current()
        if model is None:
            return [
                Choice(c.course, Reason("untrained"))
                for c in self._popular(courses, popularity, excluded, count)
            ]
        key = model.member_key(identities) or (str(member.id) if member is not None else "unknown")
        locale = (actor.locale if actor else None) or (member.locale if member else None)
        [picks] = model.recommend(
            [key],
            count,
            day=self.context.clock().date().isoformat(),
            exclude={key: excluded | {c for c in courses if courses[c]["active"] is False}},
            locales={key: locale} if locale else None,
        )
        return [Choice(p.course, p.reason, p.score) for p in picks if p.course in courses]

    async def _for_channel(
        self, document: str, courses: CourseRows, popularity: dict[str, int], count: int
    ) -> list[Choice]:
        model = await self.context.models.current()
        chosen = model.channel_picks(document, count, among=courses) if model else None
        if chosen is None:
            return self._popular(courses, popularity, set(), count)
        return [Choice(course, Reason("channel")) for course in chosen]

    async def _record(self, shown: list[Shown]) -> list[Shown]:
        now = self.context.clock()
        return await self.context.store.run_write(lambda conn: record_impressions(conn, shown, now))

    # -- replying --------------------------------------------------------------------------

    def _reply(
        self,
        actor: Actor,
        choices: list[Choice],
        shown: list[Shown],
        courses: CourseRows,
        identified: bool,
    ) -> Reply:
        t = self.context.t(actor)
        public = self.context.cohort.settings.web.public_url
        if not choices:
            return Reply((Paragraph.of(t("No courses are available right now.")),), private=True)
        items = []
        rows: list[tuple[Button, ...]] = []
        links: list[Button] = []  # without consent: one row of numbered links
        for position, (choice, seen) in enumerate(zip(choices, shown, strict=True), 1):
            course = courses[choice.course]
            items.append(
                Paragraph.of(
                    Text(course["title"], Style.BOLD), " — ", reason_text(t, choice.reason, courses)
                )
            )
            link = (
                tracking_url(public, course["url"], seen.token, actor.platform, seen.variant)
                if course["url"]
                else None
            )
            if not identified:
                if link:
                    links.append(Button(f"{position}. {t('Learn more')}", url=link))
                continue
            buttons = [
                Button(
                    f"{position}. {t('Interested')}",
                    action=f"in:{seen.token}",
                    style=ButtonStyle.PRIMARY,
                ),
                Button(t("Not for me"), action=f"no:{seen.token}"),
            ]
            if link:
                buttons.append(Button(t("Learn more"), url=link))
            rows.append(tuple(buttons))
        if links:
            rows.append(tuple(links))
        blocks: list[Paragraph | Items] = [Items(tuple(items), numbered=True)]
        if not identified:
            blocks.append(
                Paragraph.of(t("Want picks made for you? Opt in to personal recommendations."))
            )
            if actor.community:
                rows.append((optin_button(t("Opt in"), actor.community),))
        title = t("Your course picks") if identified else t("Picks for this channel")
        return Reply(tuple(blocks), title=title, buttons=tuple(rows), private=True)


def reason_text(t: Translator, reason: Reason, courses: CourseRows) -> str:
    """A pick's reason in the reader's language."""
    if reason.kind == "talked":
        return t.plural(
            "You talked about {topic} in {n} message.",
            "You talked about {topic} in {n} messages.",
            int(reason.args[1]),
            topic=reason.args[0],
        )
    if reason.kind == "helped":
        return t.plural(
            "You helped others with {topic} once.",
            "You helped others with {topic} {n} times.",
            int(reason.args[1]),
            topic=reason.args[0],
        )
    if reason.kind == "kindred":
        return t(
            "Members who talk about {topic} often discuss {subject} too.",
            topic=reason.args[0],
            subject=reason.args[1],
        )
    if reason.kind == "discussed":
        return t("Much discussed in this community lately: {topic}.", topic=reason.args[0])
    if reason.kind == "topics":
        return t(
            "You often discuss {topics}.", topics=format_list(list(reason.args), locale=t.locale)
        )
    if reason.kind == "related":
        course = courses.get(reason.args[0])
        title = course["title"] if course else reason.args[0]
        return t("Members who took {course} often take this too.", course=title)
    if reason.kind in ("explore", "new"):
        return t("New in the catalog — picked for you to try.")
    return t("Popular in this community.")
