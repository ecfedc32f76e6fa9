"""What the per-table writers share: one batch's connection, caches, hash and counts."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from bot.domain.events import CommunityEvent
from bot.store import statements
from bot.store.ids import IdResolver
from bot.store.statements import Statements
from bot.store.writers.counts import Aggregates
from bot.store.writers.results import WriteResult
from bot.store.writers.seen import IN_CHUNK, KeyedHash


@dataclass(slots=True)
class WriterCache:
    """Lookups a writer keeps between batches (cleared when a transaction rolls back)."""

    courses: set[str] = field(default_factory=set)
    # Channels where some message was counted anonymously (None: not loaded yet).
    anonymous_channels: set[int] | None = None

    def clear(self) -> None:
        """Forget everything."""
        self.courses.clear()
        self.anonymous_channels = None

    def known_courses(self, conn: Connection, wanted: set[str]) -> set[str]:
        """Which of `wanted` are courses in the catalog."""
        missing = sorted(wanted - self.courses)
        for start in range(0, len(missing), IN_CHUNK):
            result = conn.execute(
                statements.KNOWN_COURSES, {"ids": missing[start : start + IN_CHUNK]}
            )
            self.courses.update(row.id for row in result)
        return wanted & self.courses

    def channels_with_anonymous(self, conn: Connection) -> set[int]:
        """Channels where a message was ever counted anonymously (only they can promote)."""
        if self.anonymous_channels is None:
            result = conn.execute(statements.ANONYMOUS_CHANNELS)
            self.anonymous_channels = {row.channel_id for row in result}
        return self.anonymous_channels


@dataclass(slots=True)
class WriteContext:
    """One batch being written: where, with which caches, and what it changed so far."""

    conn: Connection
    sql: Statements
    ids: IdResolver
    hash: KeyedHash
    cache: WriterCache
    result: WriteResult = field(default_factory=WriteResult)
    counts: Aggregates = field(default_factory=Aggregates)

    @property
    def sqlite(self) -> bool:
        """Whether the store is SQLite (its message insert has a faster path)."""
        return self.sql.dialect == "sqlite"

    def channel_of(self, event: CommunityEvent, channel: str) -> int:
        """The row id of a resolved channel of `event`'s community."""
        return self.ids.channel(self.ids.community(event.platform, event.community), channel)
