"""The moderator audit log: one line per command that acts on a community, refused or not.

A promotion preview is itself an audit line; its row id is the draft a moderator
confirms, so the confirmation reads back exactly what was previewed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log, as the services read it back."""

    id: int
    ts: datetime
    community_id: int | None
    action: str
    details: dict[str, Any]


async def write_audit(
    conn: AsyncConnection,
    *,
    ts: datetime,
    action: str,
    outcome: str,
    community_id: int | None = None,
    actor_member_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Append one line to the audit log; returns its row id (its own, not the newest)."""
    row_id = await conn.scalar(
        s.audit_log.insert()
        .values(
            ts=ts,
            community_id=community_id,
            actor_member_id=actor_member_id,
            action=action,
            target=target,
            outcome=outcome,
            details=details or {},
        )
        .returning(s.audit_log.c.id)
    )
    assert row_id is not None
    return int(row_id)


async def audit_entry(conn: AsyncConnection, entry_id: int, action: str) -> AuditEntry | None:
    """The audit line `entry_id` if it records `action` (None otherwise)."""
    a = s.audit_log.c
    row = (
        await conn.execute(
            select(a.id, a.ts, a.community_id, a.action, a.details).where(
                a.id == entry_id, a.action == action
            )
        )
    ).first()
    if row is None:
        return None
    return AuditEntry(row.id, row.ts, row.community_id, row.action, row.details or {})
