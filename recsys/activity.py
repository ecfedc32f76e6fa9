"""Who did what, when: the input of member profiles, segments and the interaction graph.

`ActivityLog` is columnar (numpy arrays indexed by member and channel positions),
so a community with millions of messages fits in memory and features are computed
with vectorized operations. The bot fills it from the store; recsys never reads a
database. Member and channel ids are opaque strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

Index = npt.NDArray[np.int32]
Times = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class MessageRow:
    """One message, as the bot hands it over (see `ActivityLog.build`)."""

    id: str
    member: str
    channel: str
    ts: float  # epoch seconds, UTC
    text: str = ""
    reply_to: str | None = None  # id of the message replied to (may be outside the log)
    mentions: Sequence[str] = ()
    reactions: int = 0  # reactions the message received (stored and anonymous)


@dataclass(frozen=True, slots=True)
class ReactionRow:
    """One reaction by a member to a message whose author may be known."""

    member: str
    author: str | None
    ts: float


@dataclass(frozen=True)
class ActivityLog:
    """Columnar activity of one community (or several); every array is aligned per event.

    Messages: `msg_member`, `msg_channel` (indexes), `msg_ts`, `msg_reply_to` (index
    of the parent message in this log, -1 if none or not in the log), `msg_reply_member`
    (the parent's author, -1 if unknown), `msg_reactions` (reactions received),
    `msg_text`. Reactions: `rx_member` (reactor), `rx_author` (-1 unknown),
    `rx_ts`. Mentions: `mn_member` (author), `mn_target`, `mn_ts`. `joined` holds each
    member's join time (NaN if unknown); `now` is the reference time for recency.
    """

    members: list[str]
    channels: list[str]
    msg_member: Index
    msg_channel: Index
    msg_ts: Times
    msg_reply_to: Index
    msg_reply_member: Index
    msg_reactions: Index
    msg_text: list[str]
    rx_member: Index
    rx_author: Index
    rx_ts: Times
    mn_member: Index
    mn_target: Index
    mn_ts: Times
    joined: Times
    now: float
    member_index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "member_index", {m: i for i, m in enumerate(self.members)})
        n = len(self.msg_member)
        for name in ("msg_channel", "msg_ts", "msg_reply_to", "msg_reply_member", "msg_reactions"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, expected {n}")
        if len(self.msg_text) != n:
            raise ValueError(f"msg_text has {len(self.msg_text)} entries, expected {n}")
        if not (len(self.rx_member) == len(self.rx_author) == len(self.rx_ts)):
            raise ValueError("reaction arrays differ in length")
        if not (len(self.mn_member) == len(self.mn_target) == len(self.mn_ts)):
            raise ValueError("mention arrays differ in length")
        if len(self.joined) != len(self.members):
            raise ValueError("joined must have one entry per member")

    @property
    def n_members(self) -> int:
        """How many members the log indexes."""
        return len(self.members)

    @property
    def n_messages(self) -> int:
        """How many messages the log holds."""
        return len(self.msg_member)

    @classmethod
    def build(
        cls,
        messages: Iterable[MessageRow],
        reactions: Iterable[ReactionRow] = (),
        *,
        now: float,
        joined: dict[str, float] | None = None,
        members: Iterable[str] = (),
    ) -> ActivityLog:
        """Assemble a log from rows; members are indexed in order of first appearance.

        `members` adds members with no activity (so they still get a profile row).
        """
        member_index: dict[str, int] = {}
        channel_index: dict[str, int] = {}

        def member(key: str) -> int:
            return member_index.setdefault(key, len(member_index))

        for key in members:
            member(key)
        rows = list(messages)
        position = {row.id: k for k, row in enumerate(rows)}
        msg_member: list[int] = []
        msg_channel: list[int] = []
        msg_ts: list[float] = []
        msg_reply: list[int] = []
        msg_reactions: list[int] = []
        texts: list[str] = []
        mn_member: list[int] = []
        mn_target: list[int] = []
        mn_ts: list[float] = []
        for row in rows:
            author = member(row.member)
            msg_member.append(author)
            msg_channel.append(channel_index.setdefault(row.channel, len(channel_index)))
            msg_ts.append(row.ts)
            msg_reply.append(position.get(row.reply_to, -1) if row.reply_to else -1)
            msg_reactions.append(row.reactions)
            texts.append(row.text)
            for target in row.mentions:
                mn_member.append(author)
                mn_target.append(member(target))
                mn_ts.append(row.ts)
        authors = np.asarray(msg_member, dtype=np.int32)
        parents = np.asarray(msg_reply, dtype=np.int32)
        reply_member = np.where(parents >= 0, authors[np.maximum(parents, 0)], -1).astype(np.int32)
        rx_member: list[int] = []
        rx_author: list[int] = []
        rx_ts: list[float] = []
        for reaction in reactions:
            rx_member.append(member(reaction.member))
            rx_author.append(member(reaction.author) if reaction.author else -1)
            rx_ts.append(reaction.ts)
        joined = joined or {}
        for key in joined:
            member(key)
        names = list(member_index)
        return cls(
            members=names,
            channels=list(channel_index),
            msg_member=authors,
            msg_channel=np.asarray(msg_channel, dtype=np.int32),
            msg_ts=np.asarray(msg_ts, dtype=np.float64),
            msg_reply_to=parents,
            msg_reply_member=reply_member,
            msg_reactions=np.asarray(msg_reactions, dtype=np.int32),
            msg_text=texts,
            rx_member=np.asarray(rx_member, dtype=np.int32),
            rx_author=np.asarray(rx_author, dtype=np.int32),
            rx_ts=np.asarray(rx_ts, dtype=np.float64),
            mn_member=np.asarray(mn_member, dtype=np.int32),
            mn_target=np.asarray(mn_target, dtype=np.int32),
            mn_ts=np.asarray(mn_ts, dtype=np.float64),
            joined=np.asarray([joined.get(m, np.nan) for m in names], dtype=np.float64),
            now=now,
        )
