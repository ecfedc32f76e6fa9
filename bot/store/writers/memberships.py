"""Joins and leaves: membership times for identified members, daily counts for everyone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from bot.domain.admission import Membership
from bot.domain.events import MemberJoined
from bot.store import statements
from bot.store.writers.context import WriteContext
from bot.store.writers.seen import new_keys


def write_memberships(ctx: WriteContext, changes: Sequence[tuple[Membership, bool]]) -> None:
    """Set joined/left times of identified members; count each join or leave once a day."""
    if not changes:
        return
    joins: list[dict[str, Any]] = []
    leaves: list[dict[str, Any]] = []
    keyed: dict[bytes, date] = {}
    change_of: dict[bytes, tuple[int, bool]] = {}
    for change, identified in changes:
        cid = ctx.ids.community(change.platform, change.community)
        is_join = isinstance(change, MemberJoined)
        if identified:
            row = {"cid": cid, "uid": ctx.ids.member(change.platform, change.member)}
            if is_join:
                joins.append({**row, "jts": change.ts})
            else:
                leaves.append({**row, "lts": change.ts})
        # One join (leave) per member per day: Telegram reports the same join both as a
        # chat_member update and as a service message, with different timestamps.
        day = change.ts.date()
        key = ctx.hash("j" if is_join else "l", str(cid), change.member, day.isoformat())
        keyed[key] = day
        change_of[key] = (cid, is_join)
    if joins:
        ctx.conn.execute(statements.JOIN, joins)
    if leaves:
        ctx.conn.execute(statements.LEAVE, leaves)
    for key in new_keys(ctx.conn, ctx.sql, keyed):
        cid, is_join = change_of[key]
        ctx.counts.community[(cid, keyed[key])][0 if is_join else 1] += 1
        if is_join:
            ctx.result.joins += 1
        else:
            ctx.result.leaves += 1
