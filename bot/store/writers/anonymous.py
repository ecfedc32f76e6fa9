"""Messages we may not store: counted once each, with their terms, in their channel.

Also the way stored activity leaves an identity (erasure): it joins the same
counts, with the same keys, exactly as if it had arrived anonymously.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

from bot.domain.events import MessagePosted
from bot.store.writers.context import WriteContext
from bot.store.writers.lookups import existing_messages
from bot.store.writers.seen import new_keys, unsee

StoredMessage = tuple[int, str, datetime, str | None, bool]  # channel, id, ts, text, is reply
StoredReaction = tuple[int, str, str, str, datetime]  # channel, message, member, emoji, ts


def count_messages(ctx: WriteContext, messages: Sequence[MessagePosted]) -> None:
    """Count messages we may not store, with their terms, once each."""
    if not messages:
        return
    conn = ctx.conn
    keyed: dict[bytes, date] = {}
    by_key: dict[bytes, tuple[MessagePosted, int]] = {}
    for message in messages:
        cid = ctx.channel_of(message, message.channel)
        key = ctx.hash("m", str(cid), message.message)
        if key not in by_key:
            by_key[key] = (message, cid)
            keyed[key] = message.ts.date()
    new = new_keys(conn, ctx.sql, keyed)
    if not new:
        return
    # Stored while its author had consented (since withdrawn): already counted as a row.
    stored = existing_messages(conn, {(by_key[k][1], by_key[k][0].message) for k in new})
    already = [k for k in new if (by_key[k][1], by_key[k][0].message) in stored]
    if already:
        unsee(conn, already)
    anonymous_channels = ctx.cache.channels_with_anonymous(conn)
    for key in new.difference(already):
        message, cid = by_key[key]
        ctx.counts.add_message(cid, message.ts, message.text, bool(message.reply_to))
        ctx.result.anonymous_messages += 1
        anonymous_channels.add(cid)


def count_stored_activity(
    ctx: WriteContext,
    messages: Iterable[StoredMessage],
    reactions: Iterable[StoredReaction],
) -> tuple[int, int]:
    """Count stored activity anonymously (before its rows are erased) into `ctx.counts`.

    Active reactions only. Returns how many messages and reactions were newly counted.
    """
    conn, counts = ctx.conn, ctx.counts
    by_key = {ctx.hash("m", str(message[0]), message[1]): message for message in messages}
    new_messages = new_keys(conn, ctx.sql, {key: m[2].date() for key, m in by_key.items()})
    anonymous_channels = ctx.cache.channels_with_anonymous(conn)
    for key in new_messages:
        cid, _, ts, text, is_reply = by_key[key]
        counts.add_message(cid, ts, text, is_reply)
        anonymous_channels.add(cid)
    reacted = {ctx.hash("r", str(r[0]), r[1], r[2], r[3]): r for r in reactions}
    new_reactions = new_keys(conn, ctx.sql, {key: r[4].date() for key, r in reacted.items()})
    for key in new_reactions:
        cid, message_id, _, emoji, ts = reacted[key]
        counts.tallies[(cid, message_id, emoji)] += 1
        counts.daily[(cid, ts.date())][2] += 1
    return len(new_messages), len(new_reactions)
