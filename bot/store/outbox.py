"""The outbox: every message Cohort sends is a row first, then a delivery.

Status flow: `pending` → `sending` (claimed) → `sent` | `pending` (retry later, or a
claim given back unsent) | `unreachable` (DMs closed: never retried) | `failed` (gave
up) | `uncertain` (the platform may or may not have shown it: never resent, counted
for operators) | `cancelled`.

A claim records its holder (`claimed_by`) and its lease (`claimed_until`); just
before the network call the holder writes `attempted_at` and `attempted_via` (the
transport). A claim never attempted can always be given back (`release`), so a
graceful stop or a crash never strands it; one attempted by a holder that died is
only resent if its transport can prove it did not deliver it (the file transport
can), else it becomes `uncertain`. Cohort delivers each message at most once across
restarts and several running instances. `dedupe_key` makes enqueueing idempotent
(e.g. one digest per period and recipient).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, fields
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


def _claimed_columns() -> tuple[Any, ...]:
    """The outbox columns a `Claimed` is built from, in its field order."""
    return tuple(s.outbox.c[field.name] for field in fields(Claimed))


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


@dataclass(frozen=True, slots=True)
class Held:
    """A row someone holds: by whom, until when, and whether they started sending it."""

    id: int
    claimed_by: str | None
    claimed_until: datetime | None
    attempted_at: datetime | None
    attempted_via: str | None


async def claim(
    conn: AsyncConnection,
    now: datetime,
    *,
    holder: str,
    lease: timedelta,
    limit: int,
    campaign: str | None = None,
    run_id: int | None = None,
    due_by: datetime | None = None,
    platforms: Collection[str] | None = None,
    exclude: Collection[int] = (),
) -> list[Claimed]:
    """Claim up to `limit` pending deliveries due by `due_by` (default `now`), oldest first.

    `platforms`: only deliveries in communities of these platforms (None: all).
    `exclude`: ids not to take again (those this drain already put back for a retry).

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
    if exclude:
        due = due.where(o.id.not_in(sorted(exclude)))
    due = due.order_by(o.id).limit(limit)
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list((await conn.execute(due)).scalars())
    if not ids:
        return []
    result = await conn.execute(
        update(s.outbox)
        .where(o.id.in_(ids), o.status == PENDING)
        .values(
            status=SENDING,
            attempts=o.attempts + 1,
            claimed_by=holder,
            claimed_until=now + lease,
            attempted_at=None,
            attempted_via=None,
        )
        .returning(*_claimed_columns())
    )
    return sorted((Claimed(*row) for row in result), key=lambda c: c.id)


async def mark_attempted(
    conn: AsyncConnection, delivery_id: int, holder: str, via: str, now: datetime
) -> bool:
    """Record that `holder` is about to send the row through `via`; False if not its claim."""
    o = s.outbox.c
    result = await conn.execute(
        update(s.outbox)
        .where(o.id == delivery_id, o.status == SENDING, o.claimed_by == holder)
        .values(attempted_at=now, attempted_via=via)
        .returning(o.id)
    )
    return result.first() is not None


_UNCLAIMED: dict[str, Any] = {
    "claimed_by": None,
    "claimed_until": None,
    "attempted_at": None,
    "attempted_via": None,
}


async def finish(
    conn: AsyncConnection,
    delivery_id: int,
    status: str,
    now: datetime,
    *,
    error: str | None = None,
    retry_at: datetime | None = None,
    refund: bool = False,
) -> None:
    """Record the outcome of sending a claimed delivery.

    `refund`: the attempt does not count against `max_attempts` (the platform asked
    to wait, nothing was sent).
    """
    values: dict[str, Any] = {"status": status, "last_error": error, **_UNCLAIMED}
    if status == SENT:
        values["sent_at"] = now
        values["next_attempt_at"] = None
    elif status == PENDING:
        values["next_attempt_at"] = retry_at or now
    else:
        values["next_attempt_at"] = None
    o = s.outbox.c
    if refund:
        values["attempts"] = o.attempts - 1
    await conn.execute(
        update(s.outbox).where(o.id == delivery_id, o.status == SENDING).values(**values)
    )


async def release(
    conn: AsyncConnection,
    *,
    holder: str | None = None,
    ids: Collection[int] | None = None,
    attempted: bool = False,
) -> int:
    """Give back claims that were never attempted (of `holder`, or these `ids`).

    They become `pending` again, due when they were due, their attempt not counted.
    `attempted`: also rows whose attempt is known not to have delivered (the file
    transport found no line for them). Returns how many were given back.
    """
    o = s.outbox.c
    statement = update(s.outbox).where(o.status == SENDING)
    if not attempted:
        statement = statement.where(o.attempted_at.is_(None))
    if holder is not None:
        statement = statement.where(o.claimed_by == holder)
    if ids is not None:
        if not ids:
            return 0
        statement = statement.where(o.id.in_(sorted(ids)))
    result = await conn.execute(
        statement.values(status=PENDING, attempts=o.attempts - 1, **_UNCLAIMED).returning(o.id)
    )
    return len(result.all())


async def held(conn: AsyncConnection) -> list[Held]:
    """Every claimed (`sending`) row, with its holder, lease and attempt."""
    o = s.outbox.c
    result = await conn.execute(
        select(o.id, o.claimed_by, o.claimed_until, o.attempted_at, o.attempted_via).where(
            o.status == SENDING
        )
    )
    return [Held(*row) for row in result]


async def mark_uncertain(conn: AsyncConnection, ids: Collection[int], error: str) -> int:
    """Attempted claims whose outcome nobody knows become `uncertain` (never resent)."""
    if not ids:
        return 0
    o = s.outbox.c
    result = await conn.execute(
        update(s.outbox)
        .where(o.id.in_(sorted(ids)), o.status == SENDING)
        .values(status=UNCERTAIN, last_error=error, next_attempt_at=None, **_UNCLAIMED)
        .returning(o.id)
    )
    return len(result.all())


async def claimed_rows(conn: AsyncConnection, ids: Collection[int]) -> list[Claimed]:
    """The claimed rows with these ids, as `Claimed` (to settle a dead holder's sends)."""
    if not ids:
        return []
    o = s.outbox.c
    result = await conn.execute(
        select(*_claimed_columns()).where(o.id.in_(sorted(ids)), o.status == SENDING).order_by(o.id)
    )
    return [Claimed(*row) for row in result]


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


async def uncertain_count(conn: AsyncConnection, community_id: int | None = None) -> int:
    """Deliveries whose outcome is unknown (of one community, or all): for operators."""
    o = s.outbox.c
    query = select(func.count()).where(o.status == UNCERTAIN)
    if community_id is not None:
        query = query.where(o.community_id == community_id)
    return int(await conn.scalar(query) or 0)
