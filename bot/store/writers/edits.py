"""Edits and deletions of stored messages; events about other messages change nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain.events import MessageDeleted, MessageEdited
from bot.store import statements
from bot.store.writers.context import WriteContext
from bot.store.writers.lookups import existing_messages


def write_edits(
    ctx: WriteContext, edits: Sequence[MessageEdited], deletes: Sequence[MessageDeleted]
) -> None:
    """Apply edits newer than the stored text, and deletions; count only real changes."""
    if not edits and not deletes:
        return
    latest: dict[tuple[int, str], MessageEdited] = {}
    for edit in edits:
        key = (ctx.channel_of(edit, edit.channel), edit.message)
        if key not in latest or latest[key].ts <= edit.ts:
            latest[key] = edit
    deleted = {(ctx.channel_of(d, d.channel), d.message): d for d in deletes}
    stored = existing_messages(ctx.conn, set(latest) | set(deleted))
    changed = [
        {"cid": key[0], "mid": key[1], "etext": edit.text, "ets": edit.ts}
        for key, edit in latest.items()
        if key in stored and stored[key][1] is None and _older(stored[key][0], edit.ts)
    ]
    if changed:
        ctx.conn.execute(statements.EDIT, changed)
        ctx.result.edits += len(changed)
    removals = [
        {"cid": key[0], "mid": key[1], "dts": delete.ts}
        for key, delete in deleted.items()
        if key in stored and stored[key][1] is None
    ]
    if removals:
        ctx.conn.execute(statements.DELETE, removals)
        ctx.result.deletes += len(removals)


def _older(stored: datetime | None, ts: datetime) -> bool:
    return stored is None or stored < ts
