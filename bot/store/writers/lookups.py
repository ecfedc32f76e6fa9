"""Reads the writers need before they write: which messages are stored already."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from bot.store import statements
from bot.store.writers.seen import IN_CHUNK

MessageState = tuple[datetime | None, datetime | None]  # (edited_at, deleted_at)


def existing_messages(
    conn: Connection, keys: set[tuple[int, str]]
) -> dict[tuple[int, str], MessageState]:
    """Stored messages among `keys`: (channel id, platform id) -> (edited_at, deleted_at)."""
    found: dict[tuple[int, str], MessageState] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), IN_CHUNK // 2):
        result = conn.execute(
            statements.EXISTING_MESSAGES, {"keys": ordered[start : start + IN_CHUNK // 2]}
        )
        for row in result:
            found[(row.channel_id, row.platform_id)] = (row.edited_at, row.deleted_at)
    return found
