"""Retention: raw message text older than `[privacy] retention_days` is purged.

Before the text goes, its terms join the channel's weekly term counts (the same
aggregate anonymous messages feed), so channel topics and trends keep their
history; message rows stay (time, channel, replies) without text. Finished
deliveries lose their rendered text after the same period, and expired link codes
are deleted. Runs on the writer's thread, a batch per transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, delete, select, update
from sqlalchemy.engine import Connection

from bot.store import schema as s
from bot.store.writer import EventWriter
from bot.store.writers.counts import MAX_TERMS_PER_MESSAGE, Aggregates, week_of
from recsys.text import tokenize

BATCH = 2000
FINISHED = ("sent", "failed", "unreachable", "cancelled", "uncertain")


@dataclass
class PurgeCounts:
    """What one purge pass removed."""

    texts: int = 0
    deliveries: int = 0
    link_codes: int = 0


def purge_texts(conn: Connection, writer: EventWriter, before: datetime) -> int:
    """Fold and purge one batch of texts older than `before`; how many were purged."""
    msg = s.messages.c
    rows = conn.execute(
        select(msg.id, msg.channel_id, msg.ts, msg.text)
        .where(msg.ts < before, msg.text.is_not(None))
        .order_by(msg.id)
        .limit(BATCH)
    ).all()
    if not rows:
        return 0
    counts = Aggregates()
    for row in rows:
        week = week_of(row.ts.date())
        for term in tokenize(row.text)[:MAX_TERMS_PER_MESSAGE]:
            counts.terms[(row.channel_id, week, term)] += 1
    writer.write_aggregates(conn, counts)
    conn.execute(update(s.messages).where(msg.id.in_([row.id for row in rows])).values(text=None))
    return len(rows)


def purge_other(conn: Connection, before: datetime, now: datetime) -> PurgeCounts:
    """Rendered text of old finished deliveries, and expired link codes."""
    o = s.outbox.c
    old = conn.execute(
        select(o.id, o.payload).where(
            o.status.in_(FINISHED),
            o.created_at < before,
            cast(o.payload, String).like('%"reply"%'),
        )
    ).all()
    slimmed = 0
    for row in old:
        payload = dict(row.payload or {})
        if "reply" in payload:
            payload.pop("reply")
            conn.execute(update(s.outbox).where(o.id == row.id).values(payload=payload))
            slimmed += 1
    codes = conn.execute(delete(s.link_codes).where(s.link_codes.c.expires_at < now)).rowcount
    return PurgeCounts(deliveries=slimmed, link_codes=codes)
