"""Everything stored about a person, as plain JSON-ready data (`mydata`).

One section per kind of row: identities, memberships and consent, messages,
reactions, mentions, interactions (impressions, clicks, purchases), deliveries and
the audit entries of what they did. The model's view (segment, scores) is added by
the privacy service, which knows the trained bundle.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain.replies import reply_from_dict
from bot.store import schema as s


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


async def _rows(conn: AsyncConnection, query: Select[Any]) -> list[dict[str, Any]]:
    result = await conn.execute(query)
    return [{key: _plain(value) for key, value in row.items()} for row in result.mappings()]


async def person_export(conn: AsyncConnection, member_ids: Iterable[int]) -> dict[str, Any]:
    """Every stored row about the members (row ids of one person's identities)."""
    ids = sorted(set(member_ids))
    m, ms, c, ch = s.members.c, s.memberships.c, s.communities.c, s.channels.c
    msg, r, mn, i, o, a = (
        s.messages.c,
        s.reactions.c,
        s.mentions.c,
        s.interactions.c,
        s.outbox.c,
        s.audit_log.c,
    )
    channel_join = s.channels.join(s.communities, c.id == ch.community_id)
    data: dict[str, Any] = {
        "identities": await _rows(
            conn,
            select(
                m.platform,
                m.platform_id.label("id"),
                m.display_name,
                m.locale,
                m.timezone,
                m.created_at.label("first_seen"),
                m.dm_unreachable_at.label("dms_unreachable_since"),
                (m.person_id.is_not(None)).label("linked"),
            )
            .where(m.id.in_(ids))
            .order_by(m.id),
        ),
        "memberships": await _rows(
            conn,
            select(
                m.platform,
                c.platform_id.label("community"),
                c.name.label("community_name"),
                ms.joined_at,
                ms.left_at,
                ms.consent_profiling,
                ms.consent_dm,
                ms.consent_updated_at,
            )
            .select_from(
                s.memberships.join(s.communities, c.id == ms.community_id).join(
                    s.members, m.id == ms.member_id
                )
            )
            .where(ms.member_id.in_(ids))
            .order_by(c.id),
        ),
        "messages": await _rows(
            conn,
            select(
                c.platform_id.label("community"),
                ch.platform_id.label("channel"),
                ch.name.label("channel_name"),
                msg.platform_id.label("message"),
                msg.ts,
                msg.text,
                msg.reply_to,
                msg.thread,
                msg.edited_at,
                msg.deleted_at,
            )
            .select_from(s.messages.join(channel_join, ch.id == msg.channel_id))
            .where(msg.member_id.in_(ids))
            .order_by(msg.ts, msg.id),
        ),
        "reactions": await _rows(
            conn,
            select(
                c.platform_id.label("community"),
                ch.platform_id.label("channel"),
                r.message_platform_id.label("message"),
                r.emoji,
                r.ts,
                r.removed,
                r.removed_at,
            )
            .select_from(s.reactions.join(channel_join, ch.id == r.channel_id))
            .where(r.member_id.in_(ids))
            .order_by(r.ts),
        ),
        "mentioned_in": await _rows(
            conn,
            select(
                c.platform_id.label("community"),
                ch.platform_id.label("channel"),
                mn.message_platform_id.label("message"),
            )
            .select_from(s.mentions.join(channel_join, ch.id == mn.channel_id))
            .where(mn.member_id.in_(ids))
            .order_by(mn.channel_id, mn.message_platform_id),
        ),
        "interactions": await _rows(
            conn,
            select(
                i.kind,
                i.course_id.label("course"),
                i.ts,
                i.source,
                i.variant,
                i.position,
                i.amount,
                i.currency,
            )
            .where(i.member_id.in_(ids))
            .order_by(i.ts, i.id),
        ),
        "audit": await _rows(
            conn,
            select(a.ts, a.action, a.target, a.outcome)
            .where(a.actor_member_id.in_(ids))
            .order_by(a.ts),
        ),
    }
    deliveries = await _rows(
        conn,
        select(
            o.kind,
            o.purpose,
            o.course_id.label("course"),
            o.campaign,
            o.status,
            o.attempts,
            o.created_at,
            o.sent_at,
            o.payload,
        )
        .where(o.member_id.in_(ids))
        .order_by(o.created_at, o.id),
    )
    for delivery in deliveries:
        payload = delivery.pop("payload") or {}
        reply = payload.get("reply")
        delivery["text"] = reply_from_dict(reply).plain() if reply else None
    data["deliveries"] = deliveries
    return data
