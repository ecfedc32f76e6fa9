"""A promotion's outbox rows: one builder for the channel post and the DMs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.core.delivery.policy import CAPPED, QUIET, Verdict
from bot.core.services.promote import Audience, Plan
from bot.core.services.promote.deliveries import promotion_deliveries
from bot.i18n import Translator, translator
from bot.store.communities import CommunityInfo
from bot.store.members import MemberInfo
from tests.helpers import at

COMMUNITY = CommunityInfo(7, "discord", "g1", "Rustaceans", "UTC", None, None, None)
COURSE: dict[str, Any] = {
    "id": "rust-101",
    "title": "Rust 101",
    "description": "Ownership without tears.",
    "price": Decimal("49.00"),
    "currency": "EUR",
    "url": "https://example.com/rust",
}
PUBLIC = "https://cohort.example.com"


def member(member_id: int, locale: str | None = None) -> MemberInfo:
    """A stored member `u<id>` on Discord."""
    return MemberInfo(member_id, "discord", f"u{member_id}", None, locale, None, None, None)


def translator_for(locale: str | None) -> Translator:
    """The service's choice of language for a member."""
    return translator(locale)


def test_dms_go_only_to_sendable_members_each_in_their_language() -> None:
    """Blocked members get nothing; quiet hours delay; each DM is in its member's language."""
    plan = Plan(COURSE, COMMUNITY, Audience("opted-in"), day="2024-05-01")
    plan.members = [member(1), member(2, "zh-CN"), member(3)]
    plan.verdicts = {1: Verdict(), 2: Verdict(QUIET, at(60)), 3: Verdict(CAPPED)}
    deliveries = promotion_deliveries(plan, translator("en"), translator_for, PUBLIC)
    assert [(d.kind, d.member_id, d.not_before) for d in deliveries] == [
        ("dm", 1, None),
        ("dm", 2, at(60)),
    ]
    assert [d.dedupe_key for d in deliveries] == [
        f"promo:{plan.campaign}:1",
        f"promo:{plan.campaign}:2",
    ]
    english, chinese = (d.payload["reply"]["buttons"][0][0]["label"] for d in deliveries)
    assert (english, chinese) == ("Interested", translator("zh_Hans")("Interested"))
    for delivery in deliveries:
        assert delivery.payload["recipient"] == f"u{delivery.member_id}"
        assert delivery.payload["impressions"][0]["variant"] == "promotion"


def test_the_channel_post_is_the_same_course_reply_framed_by_topics() -> None:
    """One post, counted as a channel impression, with the DM's body and buttons."""
    channel = Plan(
        COURSE,
        COMMUNITY,
        Audience("channel", "c1"),
        channel="c1",
        channel_id=42,
        channel_terms=["tokio", "async"],
        day="2024-05-01",
    )
    direct = Plan(COURSE, COMMUNITY, Audience("opted-in"), day="2024-05-01")
    direct.members, direct.verdicts = [member(1)], {1: Verdict()}
    [post] = promotion_deliveries(channel, translator("en"), translator_for, PUBLIC)
    [dm] = promotion_deliveries(direct, translator("en"), translator_for, PUBLIC)
    assert (post.kind, post.channel_id, post.member_id) == ("channel", 42, None)
    assert post.dedupe_key == f"promo:{channel.campaign}:channel"
    assert post.payload["recipient"] == "c1"
    [shown] = post.payload["impressions"]
    assert (shown["variant"], shown["course"], shown["position"]) == (
        "promotion:channel",
        "rust-101",
        1,
    )
    post_reply, dm_reply = post.payload["reply"], dm.payload["reply"]
    assert "You often discuss tokio, async." in str(post_reply["blocks"][0])
    assert post_reply["blocks"][1:] == dm_reply["blocks"][1:]
    assert post_reply["title"] == dm_reply["title"] == "Rust 101"
    interested, learn_more = post_reply["buttons"][0]
    assert interested["action"] == f"in:{shown['token']}"
    assert learn_more["url"].startswith(PUBLIC)
