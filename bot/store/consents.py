"""Reading consent decisions and erasures for the gate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.consent import ConsentGate, Hasher
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
