"""A promotion's outbox rows: one post for a channel, one DM per sendable member.

Both are built by one function: the course as a reply (title, description, price,
an *Interested* button and a tracked *Learn more* link) with one impression token,
addressed to a channel or a member.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.links import tracking_url
from bot.core.services.promote.plan import Plan
from bot.core.services.promote.scoring import CHANNEL_VARIANT, DIRECT_VARIANT
from bot.domain.replies import Button, ButtonStyle, Paragraph, Reply, Style, Text, reply_to_dict
from bot.i18n import Translator
from bot.store.outbox import NewDelivery
from bot.store.tracking import new_token

# The translator for a locale (None: the default one).
TranslatorFor = Callable[[str | None], Translator]


@dataclass(frozen=True, slots=True)
class _Recipient:
    """Where one delivery goes, and what it is counted as."""

    kind: str  # channel | dm
    platform: str
    address: str
    variant: str
    dedupe: str  # the part of the dedupe key after the campaign
    member_id: int | None = None
    channel_id: int | None = None
    not_before: datetime | None = None


def promotion_deliveries(
    plan: Plan, t: Translator, translator_for: TranslatorFor, public_url: str
) -> list[NewDelivery]:
    """The deliveries to queue for `plan`; `t` speaks to a channel, members get their own."""
    if plan.audience.kind == "channel":
        assert plan.channel is not None
        topics = ", ".join(plan.channel_terms) if plan.channel_terms else None
        intro = (
            Paragraph.of(t("You often discuss {topics}.", topics=topics))
            if topics
            else Paragraph.of(Text(plan.course["title"], Style.BOLD))
        )
        place = _Recipient(
            kind="channel",
            platform=plan.community.platform,
            address=plan.channel,
            variant=CHANNEL_VARIANT,
            dedupe="channel",
            channel_id=plan.channel_id,
        )
        return [_delivery(plan, place, intro, t, public_url)]
    out: list[NewDelivery] = []
    for member in plan.members:
        verdict = plan.verdicts[member.id]
        if not verdict.sendable:
            continue
        t_member = translator_for(member.locale or plan.community.locale)
        person = _Recipient(
            kind="dm",
            platform=member.platform,
            address=member.platform_id,
            variant=DIRECT_VARIANT,
            dedupe=str(member.id),
            member_id=member.id,
            not_before=verdict.not_before,
        )
        intro = Paragraph.of(t_member("A course picked for you:"))
        out.append(_delivery(plan, person, intro, t_member, public_url))
    return out


def _delivery(
    plan: Plan, to: _Recipient, intro: Paragraph, t: Translator, public_url: str
) -> NewDelivery:
    """One outbox row: the course under `intro`, with its own impression token."""
    token = new_token()
    return NewDelivery(
        kind=to.kind,
        purpose="promotion",
        payload={
            "platform": to.platform,
            "recipient": to.address,
            "community": plan.community.platform_id,
            "reply": _course_reply(plan, token, intro, t, public_url),
            "impressions": [
                {"course": plan.course["id"], "position": 1, "variant": to.variant, "token": token}
            ],
        },
        dedupe_key=f"promo:{plan.campaign}:{to.dedupe}",
        community_id=plan.community.id,
        member_id=to.member_id,
        channel_id=to.channel_id,
        course_id=plan.course["id"],
        campaign=plan.campaign,
        not_before=to.not_before,
    )


def _course_reply(
    plan: Plan, token: str, intro: Paragraph, t: Translator, public_url: str
) -> dict[str, Any]:
    """The course as a reply, serialised for the outbox."""
    course = plan.course
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
                    public_url, course["url"], token, plan.community.platform, "promotion"
                ),
            )
        )
    return reply_to_dict(Reply(tuple(blocks), title=course["title"], buttons=(tuple(buttons),)))
