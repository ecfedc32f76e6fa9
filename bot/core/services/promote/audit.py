"""A promotion in the audit log: the preview is the draft a moderator confirms, and the send.

A draft is the preview's own audit row id (not the newest row: another moderator's
preview may commit in between). Only its author may confirm it, in the community it
was previewed in, within `PROMPT_TTL`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.services.promote.plan import Plan
from bot.store.audit import AuditEntry, audit_entry, write_audit

PROMPT_TTL = timedelta(minutes=30)
PREVIEW = "promote.preview"
SEND = "promote.send"


async def audit_preview(
    conn: AsyncConnection,
    plan: Plan,
    *,
    ts: datetime,
    actor_member_id: int | None,
    target: str,
    by: str,
) -> int:
    """Record a preview; returns the draft id its Confirm button carries."""
    return await write_audit(
        conn,
        ts=ts,
        action=PREVIEW,
        outcome="ok",
        community_id=plan.community.id,
        actor_member_id=actor_member_id,
        target=target,
        details={**plan.as_dict(), "by": by},
    )


async def open_draft(
    conn: AsyncConnection, draft: str, *, by: str, now: datetime
) -> AuditEntry | None:
    """The preview `draft` if `by` made it less than `PROMPT_TTL` ago (None: expired)."""
    if not draft.isdigit():
        return None
    entry = await audit_entry(conn, int(draft), PREVIEW)
    if entry is None or entry.details.get("by") != by or now - entry.ts > PROMPT_TTL:
        return None
    return entry


async def audit_send(
    conn: AsyncConnection,
    plan: Plan,
    *,
    ts: datetime,
    actor_member_id: int | None,
    queued: int,
    by: str,
) -> None:
    """Record that `plan` was confirmed and `queued` deliveries written (`by`: who confirmed)."""
    await write_audit(
        conn,
        ts=ts,
        action=SEND,
        outcome="queued",
        community_id=plan.community.id,
        actor_member_id=actor_member_id,
        target=f"{plan.course['id']} {plan.audience}",
        details={**plan.as_dict(), "queued": queued, "by": by},
    )
