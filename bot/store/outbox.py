"""The outbox: every message Cohort sends is a row first, then a delivery.

Status flow: `pending` → `sending` (claimed, with a lease) → `sent` | `pending`
(retry later) | `unreachable` (DMs closed: never retried) | `failed` (gave up).
A row whose lease expires while `sending` (the sender died mid-send) becomes
`uncertain` and is never sent again: Cohort delivers each message at most once,
across restarts and several running instances. `dedupe_key` makes enqueueing
idempotent (e.g. one digest per period and recipient).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

PENDING, SENDING, SENT = "pending", "sending", "sent"
UNREACHABLE, FAILED, UNCERTAIN, CANCELLED = "unreachable", "failed", "uncertain", "cancelled"
LIVE = (PENDING, SENDING, SENT, UNCERTAIN)  # what counts against caps


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """A message to queue."""

    kind: str  # dm | channel
    purpose: str  # promotion | digest | recommendation
    payload: dict[str, Any]
    dedupe_key: str
    community_id: int | None = None
    member_id: int | None = None
    channel_id: int | None = None
    course_id: str | None = None
    campaign: str | None = None
    run_id: int | None = None
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed for sending."""

    id: int
    kind: str
    purpose: str
    payload: dict[str, Any]
    attempts: int
    community_id: int | None
    member_id: int | None
    channel_id: int | None
    course_id: str | None
    campaign: str | None
    run_id: int | None


async def enqueue(conn: AsyncConnection, deliveries: list[NewDelivery], now: datetime) -> int:
    """Queue deliveries; ones whose dedupe key exists are skipped. Returns how many are new."""
    if not deliveries:
        return 0
    module: Any = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = (
        module.insert(s.outbox)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(s.outbox.c.id)
    )
    rows = [
        {
            "kind": d.kind,
            "purpose": d.purpose,
            "payload": d.payload,
            "dedupe_key": d.dedupe_key,
            "community_id": d.community_id,
            "member_id": d.member_id,
            "channel_id": d.channel_id,
            "course_id": d.course_id,
            "campaign": d.campaign,
            "run_id": d.run_id,
            "status": PENDING,
            "attempts": 0,
            "next_attempt_at": d.not_before or now,
            "created_at": now,
        }
        for d in deliveries
    ]
    return len((await conn.execute(statement, rows)).all())


async def expire_leases(conn: AsyncConnection, now: datetime) -> int:
    """`sending` rows whose lease ran out become `uncertain` (never resent)."""
    o = s.outbox.c
    result = await conn.execute(
        update(s.outbox)
        .where(o.status == SENDING, o.next_attempt_at < now)
        .values(status=UNCERTAIN, last_error="sender stopped before confirming")
        .returning(o.id)
    )
    return len(result.all())


async def drop_unreachable(conn: AsyncConnection) -> int:
    """Pending DMs to members whose DMs are closed become `unreachable` (never sent).

    They were queued before the member was found unreachable; a member who writes to
    the bot again is reachable again, and only what is queued from then on is sent.
    """
    o = s.outbox.c
    closed = select(s.members.c.id).where(s.members.c.dm_unreachable_at.is_not(None))
    result = await conn.execute(
        update(s.outbox)
        .where(o.status == PENDING, o.kind == "dm", o.member_id.in_(closed))
        .values(status=UNREACHABLE, next_attempt_at=None, last_error="member unreachable")
        .returning(o.id)
    )
    return len(result.all())


async def claim(
    conn: AsyncConnection,
    now: datetime,
    *,
    lease: timedelta,
    limit: int,
    campaign: str | None = None,
    run_id: int | None = None,
    due_by: datetime | None = None,
    platforms: Collection[str] | None = None,
) -> list[Claimed]:
    """Claim up to `limit` pending deliveries due by `due_by` (default `now`), oldest first.

    `platforms`: only deliveries in communities of these platforms (None: all).

    Call inside a write transaction: SQLite's BEGIN IMMEDIATE serialises claimers;
    PostgreSQL's SKIP LOCKED lets several instances claim disjoint rows.
    """
    o = s.outbox.c
    due = select(o.id).where(
        o.status == PENDING,
        or_(o.next_attempt_at.is_(None), o.next_attempt_at <= (due_by or now)),
    )
    if campaign is not None:
        due = due.where(o.campaign == campaign)
    if platforms is not None:  # leave deliveries for platforms this instance cannot send to
        due = due.where(
            o.community_id.in_(
                select(s.communities.c.id).where(s.communities.c.platform.in_(sorted(platforms)))
            )
        )
    if run_id is not None:
        due = due.where(o.run_id == run_id)
    due = due.order_by(o.id).limit(limit)
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list((await conn.execute(due)).scalars())
    if not ids:
        return []
    result = await conn.execute(
        update(s.outbox)
        .where(o.id.in_(ids), o.status == PENDING)
        .values(status=SENDING, attempts=o.attempts + 1, next_attempt_at=now + lease)
        .returning(
            o.id,
            o.kind,
            o.purpose,
            o.payload,
            o.attempts,
            o.community_id,
            o.member_id,
            o.channel_id,
            o.course_id,
            o.campaign,
            o.run_id,
        )
    )
    return sorted((Claimed(*row) for row in result), key=lambda c: c.id)


async def finish(
    conn: AsyncConnection,
    delivery_id: int,
    status: str,
    now: datetime,
    *,
    error: str | None = None,
    retry_at: datetime | None = None,
) -> None:
    """Record the outcome of sending a claimed delivery."""
    values: dict[str, Any] = {"status": status, "last_error": error}
    if status == SENT:
        values["sent_at"] = now
        values["next_attempt_at"] = None
    elif status == PENDING:
        values["next_attempt_at"] = retry_at or now
    else:
        values["next_attempt_at"] = None
    o = s.outbox.c
    await conn.execute(
        update(s.outbox).where(o.id == delivery_id, o.status == SENDING).values(**values)
    )


async def recent_promotions(
    conn: AsyncConnection, member_ids: list[int], since: datetime
) -> list[tuple[int, str | None, datetime]]:
    """(member, course, created) of promotional DMs to these members since `since`."""
    if not member_ids:
        return []
    o = s.outbox.c
    result = await conn.execute(
        select(o.member_id, o.course_id, o.created_at).where(
            and_(
                o.member_id.in_(member_ids),
                o.purpose == "promotion",
                o.kind == "dm",
                o.status.in_(LIVE),
                o.created_at >= since,
            )
        )
    )
    return [(row[0], row[1], row[2]) for row in result]


async def run_members(conn: AsyncConnection, run_id: int) -> set[int]:
    """Members a scheduled run has already queued a delivery for (to resume it)."""
    o = s.outbox.c
    result = await conn.execute(
        select(o.member_id).where(o.run_id == run_id, o.member_id.is_not(None)).distinct()
    )
    return set(result.scalars())


async def counts(
    conn: AsyncConnection, campaign: str | None = None, run_id: int | None = None
) -> dict[str, int]:
    """Deliveries by status (of one campaign or run, or all)."""
    o = s.outbox.c
    query = select(o.status, func.count()).group_by(o.status)
    if campaign is not None:
        query = query.where(o.campaign == campaign)
    if run_id is not None:
        query = query.where(o.run_id == run_id)
    return {row[0]: int(row[1]) for row in await conn.execute(query)}
