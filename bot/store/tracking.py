"""Impressions and clicks: the rows behind "shown", "clicked" and their tracking tokens.

Each pick shown to someone is an `impression` interaction with an unguessable token;
the "Learn more" link and the buttons carry that token, so a click or a purchase can
be tied back to the pick (course, variant, position, member) without putting member
ids in URLs. Impressions of members who did not consent have no member.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import schema as s

TOKEN_BYTES = 9  # 12 characters of URL-safe base64: short enough for button actions


def new_token() -> str:
    """An unguessable token for one impression."""
    return secrets.token_urlsafe(TOKEN_BYTES)


@dataclass(frozen=True, slots=True)
class Shown:
    """One pick shown: who (row id or None), which course, where in the list, which variant."""

    member_id: int | None
    course_id: str
    position: int
    variant: str
    source: str
    community_id: int | None = None
    channel_id: int | None = None
    token: str = ""


def record_impressions(conn: Connection, shown: list[Shown], ts: datetime) -> list[Shown]:
    """Insert impressions (sync: run through `Store.run_write`); returns them with tokens."""
    with_tokens = [item if item.token else replace(item, token=new_token()) for item in shown]
    if with_tokens:
        conn.execute(
            s.interactions.insert(),
            [
                {
                    "kind": "impression",
                    "member_id": item.member_id,
                    "course_id": item.course_id,
                    "community_id": item.community_id,
                    "channel_id": item.channel_id,
                    "ts": ts,
                    "source": item.source,
                    "variant": item.variant,
                    "position": item.position,
                    "token": item.token,
                    "dedupe_key": f"impression:{item.token}",
                }
                for item in with_tokens
            ],
        )
    return with_tokens


@dataclass(frozen=True, slots=True)
class Impression:
    """What a token points at."""

    id: int
    member_id: int | None
    course_id: str
    community_id: int | None
    channel_id: int | None
    variant: str | None
    position: int | None
    source: str
    url: str | None


async def impression(conn: AsyncConnection, token: str) -> Impression | None:
    """The impression a token belongs to, with the course's URL."""
    i, c = s.interactions.c, s.courses.c
    row = (
        await conn.execute(
            select(
                i.id,
                i.member_id,
                i.course_id,
                i.community_id,
                i.channel_id,
                i.variant,
                i.position,
                i.source,
                c.url,
            )
            .select_from(s.interactions.join(s.courses, c.id == i.course_id))
            .where(i.token == token, i.kind == "impression")
        )
    ).first()
    return None if row is None else Impression(*row)


def record_feedback(
    conn: Connection, shown: Impression, kind: str, token: str, ts: datetime, source: str
) -> bool:
    """Record a click, interest or dismissal of an impression once; True if it is new."""
    module = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = (
        module.insert(s.interactions)
        .values(
            kind=kind,
            member_id=shown.member_id,
            course_id=shown.course_id,
            community_id=shown.community_id,
            channel_id=shown.channel_id,
            ts=ts,
            source=source,
            variant=shown.variant,
            position=shown.position,
            token=token,
            attributed_to=shown.id,
            dedupe_key=f"{kind}:{token}",
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(s.interactions.c.id)
    )
    return conn.execute(statement).first() is not None
