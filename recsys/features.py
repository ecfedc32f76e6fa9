"""Activity features per member, computed with vectorized numpy from an `ActivityLog`.

One row per member of the log, in the log's member order:

- volume: messages, active days, reactions given/received, replies given/received,
  mentions given/received, channels (distinct channels posted in);
- time: recency (days since last activity), tenure (days since joining or first
  activity), 24 hour-of-day shares and 7 weekday shares of their messages (UTC, or
  shifted by each member's UTC offset when given);
- help: questions asked, answers given (replies to another member's question) and
  helpful answers (answers that received at least one reaction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from recsys.activity import ActivityLog

DAY = 86_400.0
COUNTS: Final = (
    "messages",
    "active_days",
    "reactions_given",
    "reactions_received",
    "replies_given",
    "replies_received",
    "mentions_given",
    "mentions_received",
    "channels",
    "questions",
    "answers",
    "helpful_answers",
)
TIMES: Final = ("recency_days", "tenure_days")
HOURS: Final = tuple(f"hour_{h:02d}" for h in range(24))
WEEKDAYS: Final = tuple(f"weekday_{d}" for d in range(7))  # 0 = Monday
FEATURES: Final = COUNTS + TIMES + HOURS + WEEKDAYS

_QUESTION = re.compile(
    r"[?？]"
    r"|^\s*(how|why|what|when|where|which|who|can|could|does|do|is|are|should|anyone|any\s+idea)\b"
    r"|请问|怎么|为什么|如何|哪个|有没有|吗\s*$",
    re.IGNORECASE,
)


def is_question(text: str) -> bool:
    """Whether a message reads as a question (a question mark or a question opening)."""
    return bool(_QUESTION.search(text))


@dataclass(frozen=True)
class ActivityFeatures:
    """A member × feature matrix with its names."""

    members: list[str]
    names: tuple[str, ...]
    values: npt.NDArray[np.float32]

    def column(self, name: str) -> npt.NDArray[np.float32]:
        """One feature for every member."""
        return self.values[:, self.names.index(name)]

    def row(self, member: str) -> dict[str, float]:
        """One member's features by name."""
        index = self.members.index(member)
        return {name: float(v) for name, v in zip(self.names, self.values[index], strict=True)}


def _count(
    index: npt.NDArray[np.int32], n: int, weights: npt.NDArray[np.float64] | None = None
) -> npt.NDArray[np.float64]:
    valid = index >= 0
    return np.bincount(
        index[valid], weights=None if weights is None else weights[valid], minlength=n
    ).astype(np.float64)


def _distinct_per_member(
    members: npt.NDArray[np.int32], values: npt.NDArray[np.int64], n: int
) -> npt.NDArray[np.float64]:
    if len(members) == 0:
        return np.zeros(n)
    pairs = np.unique(members.astype(np.int64) * (1 << 32) + values)
    return np.bincount((pairs >> 32).astype(np.int64), minlength=n).astype(np.float64)


def activity_features(
    log: ActivityLog, utc_offsets: npt.NDArray[np.float64] | None = None
) -> ActivityFeatures:
    """Compute every feature in `FEATURES` for every member of `log`.

    `utc_offsets` (hours, one per member) shifts hour and weekday histograms to
    local time; members without a known zone keep UTC.
    """
    n = log.n_members
    author = log.msg_member
    offsets = np.zeros(n) if utc_offsets is None else np.nan_to_num(utc_offsets)
    local = log.msg_ts + offsets[author] * 3600.0 if len(author) else log.msg_ts
    msg_day = np.floor(log.msg_ts / DAY).astype(np.int64)
    rx_day = np.floor(log.rx_ts / DAY).astype(np.int64)

    messages = _count(author, n)
    questions_mask = np.fromiter((is_question(t) for t in log.msg_text), bool, len(log.msg_text))
    parent = log.msg_reply_to
    is_reply = log.msg_reply_member >= 0
    # An answer replies to another member's question.
    answers_mask = (
        (parent >= 0) & questions_mask[np.maximum(parent, 0)] & (log.msg_reply_member != author)
    )
    helpful_mask = answers_mask & (log.msg_reactions > 0)

    counts = {
        "messages": messages,
        "active_days": _distinct_per_member(
            np.concatenate([author, log.rx_member]), np.concatenate([msg_day, rx_day]), n
        ),
        "reactions_given": _count(log.rx_member, n),
        "reactions_received": _count(author, n, log.msg_reactions.astype(np.float64)),
        "replies_given": _count(author[is_reply], n),
        "replies_received": _count(log.msg_reply_member, n),
        "mentions_given": _count(log.mn_member, n),
        "mentions_received": _count(log.mn_target, n),
        "channels": _distinct_per_member(author, log.msg_channel.astype(np.int64), n),
        "questions": _count(author[questions_mask], n),
        "answers": _count(author[answers_mask], n),
        "helpful_answers": _count(author[helpful_mask], n),
    }

    last = np.full(n, -np.inf)
    np.maximum.at(last, author, log.msg_ts)
    np.maximum.at(last, log.rx_member, log.rx_ts)
    first = np.full(n, np.inf)
    np.minimum.at(first, author, log.msg_ts)
    np.minimum.at(first, log.rx_member, log.rx_ts)
    start = np.where(np.isnan(log.joined), first, np.fmin(log.joined, first))
    seen = np.isfinite(last)
    recency = np.where(seen, (log.now - last) / DAY, np.nan)
    tenure = np.where(np.isfinite(start), (log.now - start) / DAY, 0.0)
    # Never active: as old as possible, so they sort last on recency.
    recency = np.where(np.isnan(recency), np.maximum(tenure, 0.0), recency)

    hours = (np.floor(local / 3600.0).astype(np.int64) % 24) if len(author) else author
    weekdays = ((np.floor(local / DAY).astype(np.int64) + 3) % 7) if len(author) else author
    hour_hist = np.zeros((n, 24))
    np.add.at(hour_hist, (author, hours), 1.0)
    weekday_hist = np.zeros((n, 7))
    np.add.at(weekday_hist, (author, weekdays), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        hour_share = np.nan_to_num(hour_hist / messages[:, None])
        weekday_share = np.nan_to_num(weekday_hist / messages[:, None])

    values = np.column_stack(
        [counts[name] for name in COUNTS]
        + [recency, np.maximum(tenure, 0.0)]
        + [hour_share, weekday_share]
    ).astype(np.float32)
    return ActivityFeatures(members=list(log.members), names=FEATURES, values=values)
