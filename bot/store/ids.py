"""Platform ids to row ids: communities, channels, members and memberships, cached.

Cache hits cost a dict lookup; misses are resolved for a whole batch with one
upsert per table (`RETURNING` the ids). A name that changes (or arrives after the
row was created without one) is written back. The caches describe committed rows
only when the transaction commits, so `clear()` must follow a rollback.
"""

from __future__ import annotations

import logging
from typing import TypeVar

from sqlalchemy.engine import Connection

from bot.store.statements import RENAME_MEMBER, Statements

log = logging.getLogger(__name__)

# Caches are dropped wholesale past this many entries (a cheap bound on memory).
CACHE_LIMIT = 500_000

CommunityKey = tuple[str, str]  # (platform, community platform id)
ChannelKey = tuple[int, str]  # (community row id, channel platform id)
MemberKey = tuple[str, str]  # (platform, member platform id)
MembershipKey = tuple[str, str, str]  # (platform, community, member)


class IdResolver:
    """Resolves and caches row ids; one per writer."""

    def __init__(self, sql: Statements) -> None:
        self._sql = sql
        self.communities: dict[CommunityKey, tuple[int, str | None]] = {}
        self.channels: dict[ChannelKey, tuple[int, str | None]] = {}
        self.members: dict[MemberKey, tuple[int, str | None]] = {}
        self._memberships: set[MembershipKey] = set()

    def clear(self) -> None:
        """Forget everything (after a rollback the cached ids may not exist)."""
        self.communities.clear()
        self.channels.clear()
        self.members.clear()
        self._memberships.clear()

    def trim(self) -> None:
        """Drop the caches if they grew past the limit."""
        if max(len(self.members), len(self._memberships), len(self.channels)) > CACHE_LIMIT:
            log.info("id caches over %d entries; dropping them", CACHE_LIMIT)
            self.clear()

    def community(self, platform: str, community: str) -> int:
        """The row id of a resolved community."""
        return self.communities[(platform, community)][0]

    def channel(self, community_id: int, channel: str) -> int:
        """The row id of a resolved channel."""
        return self.channels[(community_id, channel)][0]

    def member(self, platform: str, member: str) -> int:
        """The row id of a resolved member."""
        return self.members[(platform, member)][0]

    def has_member(self, platform: str, member: str) -> bool:
        """Whether the member is resolved (stored)."""
        return (platform, member) in self.members

    def resolve_communities(self, conn: Connection, wanted: dict[CommunityKey, str | None]) -> None:
        """Create (or rename) the communities in `wanted` (key -> name or None)."""
        stale = _stale(self.communities, wanted)
        if stale:
            rows = [
                {"platform": p, "platform_id": pid, "name": wanted[(p, pid)]} for p, pid in stale
            ]
            for row in conn.execute(self._sql.communities, rows):
                key = (row.platform, row.platform_id)
                self.communities[key] = (row.id, _merged_name(self.communities, key, wanted))

    def resolve_channels(self, conn: Connection, wanted: dict[ChannelKey, str | None]) -> None:
        """Create (or rename) the channels in `wanted` (key -> name or None)."""
        stale = _stale(self.channels, wanted)
        if stale:
            rows = [
                {"community_id": cid, "platform_id": pid, "name": wanted[(cid, pid)]}
                for cid, pid in stale
            ]
            for row in conn.execute(self._sql.channels, rows):
                key: ChannelKey = (row.community_id, row.platform_id)
                self.channels[key] = (row.id, _merged_name(self.channels, key, wanted))

    def resolve_members(self, conn: Connection, wanted: dict[MemberKey, str | None]) -> None:
        """Create the members in `wanted` that are new; rename those whose name changed."""
        missing = [key for key in wanted if key not in self.members]
        renamed = [
            (key, name)
            for key, name in wanted.items()
            if name and (cached := self.members.get(key)) is not None and cached[1] != name
        ]
        if missing:
            rows = [
                {"platform": p, "platform_id": pid, "display_name": wanted[(p, pid)]}
                for p, pid in sorted(missing)
            ]
            for row in conn.execute(self._sql.members, rows):
                key = (row.platform, row.platform_id)
                self.members[key] = (row.id, wanted.get(key))
        if renamed:
            conn.execute(
                RENAME_MEMBER, [{"uid": self.members[key][0], "nm": name} for key, name in renamed]
            )
            for key, name in renamed:
                self.members[key] = (self.members[key][0], name)

    def knows_membership(self, platform: str, community: str, member: str) -> bool:
        """Whether the membership row is known to exist."""
        return (platform, community, member) in self._memberships

    def ensure_memberships(self, conn: Connection, keys: set[MembershipKey]) -> None:
        """Create membership rows for resolved communities and members."""
        missing = keys - self._memberships
        if not missing:
            return
        pairs = sorted({(self.community(p, c), self.member(p, m)) for p, c, m in missing})
        conn.execute(
            self._sql.memberships, [{"community_id": cid, "member_id": uid} for cid, uid in pairs]
        )
        self._memberships.update(missing)


K = TypeVar("K", CommunityKey, ChannelKey)


def _stale(cache: dict[K, tuple[int, str | None]], wanted: dict[K, str | None]) -> list[K]:
    """Keys not cached yet, or given a name that differs from the cached one (sorted)."""
    return sorted(
        key
        for key, name in wanted.items()
        if (cached := cache.get(key)) is None or (name is not None and cached[1] != name)
    )


def _merged_name(
    cache: dict[K, tuple[int, str | None]], key: K, wanted: dict[K, str | None]
) -> str | None:
    """The name after an upsert that never overwrites a name with NULL."""
    cached = cache.get(key)
    return wanted.get(key) or (cached[1] if cached else None)
