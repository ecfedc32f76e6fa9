"""What a promotion is before it is sent: its audience, its plan, and why it cannot be."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bot.core.delivery.policy import BLOCKING_RULES, QUIET, Verdict
from bot.errors import CohortError
from bot.i18n import DEFAULT_LOCALE, Translator, translator
from bot.store.communities import CommunityInfo
from bot.store.members import MemberInfo


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
    community: CommunityInfo
    audience: Audience
    members: list[MemberInfo] = field(default_factory=list)
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
