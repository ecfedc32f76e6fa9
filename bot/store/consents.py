"""Reading consent decisions and erasures for the gate; the privacy epoch.

The privacy epoch is a random token in `cohort_meta` that every erasure and every
written consent decision replaces, in the same transaction. A writer reads it at
the start of each write transaction (`read_epoch`) and reloads its gate when it
changed, so a member erased or withdrawn in one process is never written under
their identity by another, however long that one has been running. On PostgreSQL
the read takes a share lock on the row and a change an exclusive one: an erasure
waits for writes in flight, and writes that start meanwhile wait for it and then
see it.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.consent import ConsentGate, Hasher
from bot.store import schema as s

ConsentRow = tuple[str, str, str, bool | None, bool | None, datetime | None]

ERASURES = select(s.erasures.c.key, s.erasures.c.erased_at)
CONSENTS = (
    select(
        s.members.c.platform,
        s.communities.c.platform_id,
        s.members.c.platform_id,
        s.memberships.c.consent_profiling,
        s.memberships.c.consent_dm,
        s.memberships.c.consent_updated_at,
    )
    .select_from(
        s.memberships.join(s.members, s.members.c.id == s.memberships.c.member_id).join(
            s.communities, s.communities.c.id == s.memberships.c.community_id
        )
    )
    .where(
        or_(
            s.memberships.c.consent_profiling.is_not(None),
            s.memberships.c.consent_dm.is_not(None),
        )
    )
)


async def load_erasures(conn: AsyncConnection) -> dict[bytes, datetime]:
    """Every erasure: keyed identity hash -> when."""
    return {bytes(row[0]): row[1] for row in await conn.execute(ERASURES)}


async def load_consents(conn: AsyncConnection) -> list[ConsentRow]:
    """Every explicit decision as `(platform, community, member, profiling, dm, at)`."""
    result = await conn.execute(CONSENTS)
    return [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in result]


def reload_gate(conn: Connection, gate: ConsentGate, hasher: Hasher) -> int:
    """Reload erasures and decisions (sync, on the writer's thread); returns decisions.

    Other processes (`cohort privacy forget`, an import, another instance) change
    consent in the database; running on the writer's thread keeps the reload in
    order with the batches this process writes.
    """
    gate.load_erasures(hasher, {bytes(row[0]): row[1] for row in conn.execute(ERASURES)})
    gate.replace_all((r[0], r[1], r[2], r[3], r[4], r[5]) for r in conn.execute(CONSENTS))
    return len(gate)


PRIVACY_EPOCH = "privacy_epoch"
_EPOCH = s.meta.c


def read_epoch(conn: Connection, *, exclusive: bool = False) -> str:
    """The current privacy epoch, locked until the transaction ends (PostgreSQL).

    `exclusive`: lock it for a change (`FOR UPDATE`) rather than a read (`FOR
    SHARE`); take it up front when the transaction may change the epoch later, so
    two such transactions never deadlock upgrading their locks. Creates the row on
    first use.
    """
    query = select(_EPOCH.value).where(_EPOCH.key == PRIVACY_EPOCH)
    query = query.with_for_update(read=not exclusive)
    value = conn.execute(query).scalar()
    if value is None:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            insert(s.meta)
            .values(key=PRIVACY_EPOCH, value=secrets.token_hex(16))
            .on_conflict_do_nothing(index_elements=["key"])
        )
        value = conn.execute(query).scalar_one()
    return str(value)


def bump_epoch(conn: Connection) -> tuple[str, str]:
    """Replace the privacy epoch (consent or erasure changed); returns (before, after)."""
    before = read_epoch(conn, exclusive=True)
    after = secrets.token_hex(16)
    conn.execute(update(s.meta).where(_EPOCH.key == PRIVACY_EPOCH).values(value=after))
    return before, after
