"""A community that changed its platform id: Telegram's group → supergroup migration.

When a Telegram group becomes a supergroup, the chat gets a new id and the old one is
dead. `move_community` keeps one community: the row that holds the old id takes the
new one. If the new id already has its own row (events of the supergroup were stored
before the migration was seen), the old community is merged into it and deleted:
channels, memberships (the later consent decision wins), daily counts, interactions,
deliveries and audit rows move over; nothing is lost and nothing is counted twice.

Channels keep their ids: the old group's channel (its id is the old chat id) stays a
channel of the community, holding the group's history; message ids of the old group
and of the supergroup are separate sequences and must not share one channel.
`current_chat` maps such an old channel id to the community's id, where messages
for it must now be sent.

Plain synchronous SQLAlchemy Core, for `Store.run_write`; parameters only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s
from bot.store.consents import bump_epoch

log = logging.getLogger(__name__)

# Tables whose rows simply follow their community.
_FOLLOWERS = (s.interactions, s.outbox, s.audit_log)
# Settings the old community had that the new one may still lack.
_SETTINGS = ("name", "timezone", "locale", "digest_cron", "digest_channel")


@dataclass(frozen=True, slots=True)
class MoveResult:
    """What `move_community` did: `renamed` (one row took the new id), `merged`, or nothing."""

    renamed: bool = False
    merged: bool = False

    @property
    def moved(self) -> bool:
        """Whether anything changed."""
        return self.renamed or self.merged


def _community(conn: Connection, platform: str, platform_id: str) -> Any:
    query = select(s.communities).where(
        s.communities.c.platform == platform, s.communities.c.platform_id == platform_id
    )
    return conn.execute(query).one_or_none()


def move_community(conn: Connection, platform: str, old: str, new: str) -> MoveResult:
    """Give the community `old` the id `new`, merging it into `new` if that exists too."""
    if old == new:
        return MoveResult()
    source = _community(conn, platform, old)
    if source is None:
        return MoveResult()
    target = _community(conn, platform, new)
    if target is None:
        conn.execute(
            update(s.communities).where(s.communities.c.id == source.id).values(platform_id=new)
        )
        bump_epoch(conn)  # consent decisions are keyed by the community's id
        return MoveResult(renamed=True)
    _merge(conn, source, target)
    bump_epoch(conn)
    return MoveResult(merged=True)


def _merge(conn: Connection, source: Any, target: Any) -> None:
    """Move everything of community `source` into `target`, then delete `source`."""
    settings = {
        name: getattr(source, name)
        for name in _SETTINGS
        if getattr(target, name) in (None, "", "UTC") and getattr(source, name) not in (None, "")
    }
    if settings:
        conn.execute(
            update(s.communities).where(s.communities.c.id == target.id).values(**settings)
        )
    conn.execute(
        update(s.channels)
        .where(s.channels.c.community_id == source.id)
        .values(community_id=target.id)
    )
    for table in _FOLLOWERS:
        conn.execute(
            update(table).where(table.c.community_id == source.id).values(community_id=target.id)
        )
    _merge_memberships(conn, source.id, target.id)
    _merge_daily(conn, source.id, target.id)
    conn.execute(delete(s.communities).where(s.communities.c.id == source.id))


def _later(a: datetime | None, b: datetime | None) -> bool:
    """Whether a decision made at `a` is newer than one made at `b`."""
    return a is not None and (b is None or a > b)


def _merge_memberships(conn: Connection, source: int, target: int) -> None:
    m = s.memberships
    theirs = {
        row.member_id: row for row in conn.execute(select(m).where(m.c.community_id == target))
    }
    for row in conn.execute(select(m).where(m.c.community_id == source)).all():
        kept = theirs.get(row.member_id)
        if kept is None:
            conn.execute(
                update(m)
                .where(m.c.community_id == source, m.c.member_id == row.member_id)
                .values(community_id=target)
            )
            continue
        values: dict[str, Any] = {}
        joined = [t for t in (row.joined_at, kept.joined_at) if t is not None]
        if joined:
            values["joined_at"] = min(joined)
        if _later(row.consent_updated_at, kept.consent_updated_at):
            values.update(
                consent_profiling=row.consent_profiling,
                consent_dm=row.consent_dm,
                consent_updated_at=row.consent_updated_at,
            )
        if values:
            conn.execute(
                update(m)
                .where(m.c.community_id == target, m.c.member_id == row.member_id)
                .values(**values)
            )
        conn.execute(delete(m).where(m.c.community_id == source, m.c.member_id == row.member_id))


def _merge_daily(conn: Connection, source: int, target: int) -> None:
    d = s.community_daily
    theirs = {row.day: row for row in conn.execute(select(d).where(d.c.community_id == target))}
    for row in conn.execute(select(d).where(d.c.community_id == source)).all():
        kept = theirs.get(row.day)
        if kept is None:
            conn.execute(insert(d).values(community_id=target, day=row.day, joins=row.joins,
                                          leaves=row.leaves))  # fmt: skip
        else:
            conn.execute(
                update(d)
                .where(d.c.community_id == target, d.c.day == row.day)
                .values(joins=kept.joins + row.joins, leaves=kept.leaves + row.leaves)
            )
    conn.execute(delete(d).where(d.c.community_id == source))


async def current_chat(conn: AsyncConnection, platform: str, channel: str) -> str | None:
    """The id of the community a channel now belongs to, if it differs from the channel's.

    After a Telegram migration the old group's channel keeps the old chat id while its
    community has the supergroup's: that is where messages for the old id must go.
    """
    query = (
        select(s.communities.c.platform_id)
        .select_from(
            s.channels.join(s.communities, s.communities.c.id == s.channels.c.community_id)
        )
        .where(
            s.communities.c.platform == platform,
            s.channels.c.platform_id == channel,
            s.communities.c.platform_id != channel,
        )
        .limit(1)
    )
    return (await conn.execute(query)).scalar_one_or_none()
