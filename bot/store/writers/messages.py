"""Stored messages and their mentions; a message counted anonymously moves out once.

When a member consents later and their history is imported again, the messages
that were counted anonymously are stored as rows and leave the anonymous counts:
their `seen_events` key is deleted, so this happens exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain.events import MessagePosted
from bot.store import statements
from bot.store.statements import sqlite_timestamp
from bot.store.writers.context import WriteContext
from bot.store.writers.seen import seen_among, unsee

Place = tuple[int, str]  # (channel row id, message platform id)


def write_messages(
    ctx: WriteContext, messages: Sequence[tuple[MessagePosted, tuple[str, ...]]]
) -> None:
    """Store identified messages and their mentions of the members the admission named."""
    if not messages:
        return
    ids = ctx.ids
    communities, channels, members = ids.communities, ids.channels, ids.members
    timestamp = sqlite_timestamp if ctx.sqlite else None
    stored: dict[Place, MessagePosted] = {}
    rows: list[tuple[Any, ...]] = []
    mention_rows: list[dict[str, Any]] = []
    for message, mentioned in messages:
        platform = message.platform
        cid = channels[(communities[(platform, message.community)][0], message.channel)][0]
        place = (cid, message.message)
        if place in stored:
            continue  # the same message twice in one batch (exports repeat ids)
        stored[place] = message
        rows.append(
            (
                cid,
                message.message,
                members[(platform, message.member)][0],
                timestamp(message.ts) if timestamp else message.ts,
                message.text,
                message.reply_to,
                message.thread,
            )
        )
        for other in mentioned:
            if ids.has_member(platform, other):
                mention_rows.append(
                    {
                        "channel_id": cid,
                        "message_platform_id": message.message,
                        "member_id": ids.member(platform, other),
                    }
                )
    ctx.result.messages += _insert(ctx, rows)
    if mention_rows:
        ctx.conn.execute(ctx.sql.mentions, mention_rows)
    _leave_anonymous_counts(ctx, stored)


def _insert(ctx: WriteContext, rows: list[tuple[Any, ...]]) -> int:
    """Insert message rows (MESSAGE_COLUMNS order); return how many were new."""
    if ctx.sqlite:
        # Driver-level executemany: the hot path, without per-row SQLAlchemy work.
        inserted = ctx.conn.exec_driver_sql(ctx.sql.messages_sql, rows)
        return max(inserted.rowcount, 0)
    returned = ctx.conn.execute(
        ctx.sql.messages_returning,
        [dict(zip(statements.MESSAGE_COLUMNS, row, strict=True)) for row in rows],
    )
    return len(returned.all())


def _leave_anonymous_counts(ctx: WriteContext, stored: dict[Place, MessagePosted]) -> None:
    """Take stored messages that were counted anonymously out of the anonymous counts."""
    anonymous_channels = ctx.cache.channels_with_anonymous(ctx.conn)
    keys = {
        ctx.hash("m", str(cid), mid): (cid, mid) for cid, mid in stored if cid in anonymous_channels
    }
    if not keys:
        return
    found = seen_among(ctx.conn, set(keys))
    if not found:
        return
    unsee(ctx.conn, found)
    for key in found:
        place = keys[key]
        message = stored[place]
        ctx.counts.remove_message(place[0], message.ts, bool(message.reply_to))
