"""Keyed hashes and `seen_events`: every anonymous count is made once.

A count is guarded by a keyed BLAKE2 hash of what was counted (the key is the
installation secret), so replays and re-imports never count twice and the table
holds no identity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date

from sqlalchemy.engine import Connection

from bot.store import statements
from bot.store.statements import Statements

# Chunk for `IN (...)` lists: well under SQLite's and asyncpg's parameter limits.
IN_CHUNK = 900


class KeyedHash:
    """A keyed BLAKE2b digest (16 bytes) of string parts, with the installation secret."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, *parts: str) -> bytes:
        """The digest of `parts` joined by a unit separator."""
        return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16, key=self._key).digest()


def new_keys(conn: Connection, sql: Statements, keyed: dict[bytes, date]) -> set[bytes]:
    """Insert keys (with the day they count for); return those that were not there before."""
    if not keyed:
        return set()
    rows = [{"key": key, "day": day} for key, day in sorted(keyed.items())]
    result = conn.execute(sql.seen, rows)
    return {bytes(row.key) for row in result}


def seen_among(conn: Connection, keys: set[bytes]) -> set[bytes]:
    """Which of `keys` are in `seen_events`."""
    found: set[bytes] = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), IN_CHUNK):
        result = conn.execute(statements.SEEN_AMONG, {"keys": ordered[start : start + IN_CHUNK]})
        found.update(bytes(row.key) for row in result)
    return found


def unsee(conn: Connection, keys: Iterable[bytes]) -> None:
    """Delete keys (what they counted moved into stored rows)."""
    conn.execute(statements.UNSEE, [{"k": key} for key in sorted(keys)])


def unsee_one(conn: Connection, key: bytes) -> bool:
    """Delete one key; True if it was there (its count is to be taken back)."""
    return conn.execute(statements.UNSEE_RETURNING, {"k": key}).first() is not None
