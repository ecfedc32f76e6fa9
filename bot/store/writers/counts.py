"""Anonymous counts: gathered over a batch, written once at its end.

`channel_daily` (messages, replies, reactions per channel and day),
`channel_terms` (terms of text we do not keep, per channel and week),
`community_daily` (joins and leaves of everyone) and `reaction_tallies` (net
anonymous reactions per message and emoji).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Connection

from bot.store.statements import Statements
from recsys.text import tokenize

# Terms per message counted in channel aggregates (long pastes add little).
MAX_TERMS_PER_MESSAGE = 200


def week_of(day: date) -> date:
    """The Monday that starts `day`'s ISO week (the bucket for channel terms)."""
    return day - timedelta(days=day.weekday())


@dataclass(slots=True)
class Aggregates:
    """Anonymous counts gathered over a batch, written once at its end."""

    daily: defaultdict[tuple[int, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0])
    )  # (channel, day) -> [messages, replies, reactions]
    terms: Counter[tuple[int, date, str]] = field(default_factory=Counter)
    community: defaultdict[tuple[int, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )  # (community, day) -> [joins, leaves]
    tallies: Counter[tuple[int, str, str]] = field(default_factory=Counter)

    def add_message(self, channel: int, ts: datetime, text: str | None, is_reply: bool) -> None:
        """Count one message anonymously: its channel's day, and the terms of its text."""
        day = ts.date()
        daily = self.daily[(channel, day)]
        daily[0] += 1
        daily[1] += 1 if is_reply else 0
        week = week_of(day)
        for term in tokenize(text or "")[:MAX_TERMS_PER_MESSAGE]:
            self.terms[(channel, week, term)] += 1

    def remove_message(self, channel: int, ts: datetime, is_reply: bool) -> None:
        """Take a message out of its channel's day (it is stored as a row now)."""
        daily = self.daily[(channel, ts.date())]
        daily[0] -= 1
        daily[1] -= 1 if is_reply else 0


def write_aggregates(conn: Connection, sql: Statements, counts: Aggregates) -> None:
    """Apply the batch's anonymous counts (sorted, so concurrent writers never deadlock)."""
    daily = [
        {
            "channel_id": cid,
            "day": day,
            "anonymous_messages": v[0],
            "anonymous_replies": v[1],
            "anonymous_reactions": v[2],
        }
        for (cid, day), v in sorted(counts.daily.items())
        if any(v)
    ]
    if daily:
        conn.execute(sql.channel_daily, daily)
    if counts.terms:
        conn.execute(
            sql.channel_terms,
            [
                {"channel_id": cid, "week": week, "term": term, "count": n}
                for (cid, week, term), n in sorted(counts.terms.items())
            ],
        )
    community = [
        {"community_id": cid, "day": day, "joins": v[0], "leaves": v[1]}
        for (cid, day), v in sorted(counts.community.items())
    ]
    if community:
        conn.execute(sql.community_daily, community)
    tallies = [
        {"channel_id": cid, "message_platform_id": mid, "emoji": emoji, "anonymous_count": n}
        for (cid, mid, emoji), n in sorted(counts.tallies.items())
        if n
    ]
    if tallies:
        conn.execute(sql.tally_increment, tallies)
