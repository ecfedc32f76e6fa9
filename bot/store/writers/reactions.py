"""Reactions: rows for identified members, a net tally for everyone else.

Identified reactions are rows with a `removed` flag (the last action in a batch
wins). Anonymous ones add to `reaction_tallies` and the channel's day, once each
(a removal takes its own addition back). Reaction counts from exports
(`ReactionsCounted`) store the named consenting reactors and set the tally to the
rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from bot.domain.admission import Reaction
from bot.domain.events import ReactionAdded, ReactionRemoved, ReactionsCounted
from bot.store import statements
from bot.store.writers.context import WriteContext
from bot.store.writers.seen import new_keys, unsee_one


def write_reactions(ctx: WriteContext, reactions: Iterable[Reaction]) -> None:
    """Identified reactions: add (or re-add) rows, flag removed ones."""
    conn = ctx.conn
    adds: list[dict[str, Any]] = []
    removes: list[dict[str, Any]] = []
    for reaction in reactions:
        cid = ctx.channel_of(reaction, reaction.channel)
        uid = ctx.ids.member(reaction.platform, reaction.member)
        if isinstance(reaction, ReactionAdded):
            adds.append(
                {
                    "channel_id": cid,
                    "message_platform_id": reaction.message,
                    "member_id": uid,
                    "emoji": reaction.emoji,
                    "ts": reaction.ts,
                    "removed": False,
                    "removed_at": None,
                }
            )
        else:
            removes.append(
                {
                    "cid": cid,
                    "mid": reaction.message,
                    "uid": uid,
                    "em": reaction.emoji,
                    "rts": reaction.ts,
                }
            )
    if adds:
        new = {tuple(row) for row in conn.execute(ctx.sql.new_reactions, adds)}
        ctx.result.reactions += len(new)
        again = [
            {
                "cid": row["channel_id"],
                "mid": row["message_platform_id"],
                "uid": row["member_id"],
                "em": row["emoji"],
            }
            for row in adds
            if (row["channel_id"], row["message_platform_id"], row["member_id"], row["emoji"])
            not in new
        ]
        if again:
            conn.execute(statements.READD, again)
    if removes:
        conn.execute(statements.UNREACT, removes)


def count_reactions(ctx: WriteContext, reactions: Iterable[Reaction]) -> None:
    """Anonymous reactions: a net tally per message and emoji, and a daily count."""
    added: dict[bytes, ReactionAdded] = {}
    removed: list[tuple[bytes, int, ReactionRemoved]] = []
    for reaction in reactions:
        cid = ctx.channel_of(reaction, reaction.channel)
        key = ctx.hash("r", str(cid), reaction.message, reaction.member, reaction.emoji)
        if isinstance(reaction, ReactionAdded):
            added[key] = reaction
        else:
            removed.append((key, cid, reaction))
    if not added and not removed:
        return
    counts = ctx.counts
    for key in new_keys(ctx.conn, ctx.sql, {key: event.ts.date() for key, event in added.items()}):
        reaction = added[key]
        cid = ctx.channel_of(reaction, reaction.channel)
        counts.tallies[(cid, reaction.message, reaction.emoji)] += 1
        counts.daily[(cid, reaction.ts.date())][2] += 1
        ctx.result.anonymous_reactions += 1
    for key, cid, withdrawn in removed:
        if unsee_one(ctx.conn, key):
            counts.tallies[(cid, withdrawn.message, withdrawn.emoji)] -= 1


def write_snapshots(
    ctx: WriteContext, snapshots: Sequence[tuple[ReactionsCounted, list[str]]]
) -> None:
    """Export reaction counts: named consenting reactors as rows, the rest as a tally."""
    if not snapshots:
        return
    conn = ctx.conn
    tallies: list[dict[str, Any]] = []
    reactors: list[dict[str, Any]] = []
    keyed: dict[bytes, date] = {}
    anonymous_part: dict[bytes, tuple[int, int]] = {}
    for snapshot, known in snapshots:
        cid = ctx.channel_of(snapshot, snapshot.channel)
        anonymous = max(0, snapshot.count - len(known))
        tallies.append(
            {
                "channel_id": cid,
                "message_platform_id": snapshot.message,
                "emoji": snapshot.emoji,
                "anonymous_count": anonymous,
            }
        )
        for reactor in known:
            reactors.append(
                {
                    "channel_id": cid,
                    "message_platform_id": snapshot.message,
                    "member_id": ctx.ids.member(snapshot.platform, reactor),
                    "emoji": snapshot.emoji,
                    "ts": snapshot.ts,
                    "removed": False,
                    "removed_at": None,
                }
            )
        key = ctx.hash("rc", str(cid), snapshot.message, snapshot.emoji)
        keyed[key] = snapshot.ts.date()
        anonymous_part[key] = (cid, anonymous)
    if reactors:
        inserted = conn.execute(ctx.sql.new_reactions, reactors)
        ctx.result.reactions += len(inserted.all())
    # A tally row only where someone anonymous reacted; zero out a stale one otherwise.
    positive = [row for row in tallies if row["anonymous_count"] > 0]
    if positive:
        conn.execute(ctx.sql.tally_set, positive)
    zero = [
        {"cid": row["channel_id"], "mid": row["message_platform_id"], "em": row["emoji"]}
        for row in tallies
        if row["anonymous_count"] == 0
    ]
    if zero:
        conn.execute(statements.TALLY_ZERO, zero)
    for key in new_keys(conn, ctx.sql, keyed):
        cid, anonymous = anonymous_part[key]
        ctx.counts.daily[(cid, keyed[key])][2] += anonymous
        ctx.result.anonymous_reactions += anonymous
