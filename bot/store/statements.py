"""The SQL the event writer runs, built once per dialect from the schema.

Upserts differ between SQLite and PostgreSQL only in the dialect's `insert`
construct; everything else is plain SQLAlchemy Core. The hottest statement (the
message insert on SQLite) is compiled once to driver SQL and executed with tuples,
which skips SQLAlchemy's per-row parameter processing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Boolean, Table, and_, bindparam, func, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from bot.store import schema as s

MESSAGE_COLUMNS: Final = (
    "channel_id",
    "platform_id",
    "member_id",
    "ts",
    "text",
    "reply_to",
    "thread",
)
# SQLAlchemy's storage format for DATETIME on SQLite; text comparison relies on it.
SQLITE_TIMESTAMP: Final = "%Y-%m-%d %H:%M:%S.%f"


def sqlite_timestamp(ts: datetime) -> str:
    """`ts` (aware) as SQLite stores it: naive UTC text with microseconds.

    Equal to `strftime(SQLITE_TIMESTAMP)`, in a quarter of the time (hot path).
    """
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    text = ts.replace(tzinfo=None).isoformat(" ")
    return text if len(text) == 26 else text + ".000000"


class Statements:
    """Dialect-specific inserts and upserts used by the writer."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        module: Any = sqlite if dialect == "sqlite" else postgresql

        def ins(table: Table) -> Any:
            return module.insert(table)

        communities, channels, members = s.communities, s.channels, s.members
        stmt = ins(communities)
        self.communities = stmt.on_conflict_do_update(
            index_elements=["platform", "platform_id"],
            set_={"name": func.coalesce(stmt.excluded.name, communities.c.name)},
        ).returning(communities.c.id, communities.c.platform, communities.c.platform_id)

        stmt = ins(channels)
        self.channels = stmt.on_conflict_do_update(
            index_elements=["community_id", "platform_id"],
            set_={"name": func.coalesce(stmt.excluded.name, channels.c.name)},
        ).returning(channels.c.id, channels.c.community_id, channels.c.platform_id)

        stmt = ins(members)
        self.members = stmt.on_conflict_do_update(
            index_elements=["platform", "platform_id"],
            set_={
                "display_name": func.coalesce(stmt.excluded.display_name, members.c.display_name)
            },
        ).returning(members.c.id, members.c.platform, members.c.platform_id)

        self.memberships = ins(s.memberships).on_conflict_do_nothing(
            index_elements=["community_id", "member_id"]
        )
        message_insert = ins(s.messages).on_conflict_do_nothing(
            index_elements=["channel_id", "platform_id"]
        )
        # PostgreSQL's executemany reports no row count, so it returns the inserted keys.
        self.messages_returning = message_insert.returning(
            s.messages.c.channel_id, s.messages.c.platform_id
        )
        # SQLite's hot path: driver SQL with positional parameters, executed with tuples.
        self.messages_sql = ""
        if dialect == "sqlite":
            compiled = message_insert.compile(dialect=sqlite.dialect(), column_keys=MESSAGE_COLUMNS)
            if tuple(compiled.positiontup or ()) != MESSAGE_COLUMNS:
                raise RuntimeError(f"unexpected message insert parameters {compiled.positiontup}")
            self.messages_sql = compiled.string
        self.mentions = ins(s.mentions).on_conflict_do_nothing()

        r = s.reactions.c
        self.new_reactions = (
            ins(s.reactions)
            .on_conflict_do_nothing()
            .returning(r.channel_id, r.message_platform_id, r.member_id, r.emoji)
        )
        t = s.reaction_tallies.c
        stmt = ins(s.reaction_tallies)
        self.tally_increment = stmt.on_conflict_do_update(
            index_elements=["channel_id", "message_platform_id", "emoji"],
            set_={
                "anonymous_count": _greatest_zero(
                    t.anonymous_count + stmt.excluded.anonymous_count, dialect
                )
            },
        )
        stmt = ins(s.reaction_tallies)
        self.tally_set = stmt.on_conflict_do_update(
            index_elements=["channel_id", "message_platform_id", "emoji"],
            set_={"anonymous_count": stmt.excluded.anonymous_count},
        )
        self.seen = (
            ins(s.seen_events)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(s.seen_events.c.key)
        )
        d = s.channel_daily.c
        stmt = ins(s.channel_daily)
        self.channel_daily = stmt.on_conflict_do_update(
            index_elements=["channel_id", "day"],
            set_={
                "anonymous_messages": d.anonymous_messages + stmt.excluded.anonymous_messages,
                "anonymous_replies": d.anonymous_replies + stmt.excluded.anonymous_replies,
                "anonymous_reactions": d.anonymous_reactions + stmt.excluded.anonymous_reactions,
            },
        )
        stmt = ins(s.community_daily)
        self.community_daily = stmt.on_conflict_do_update(
            index_elements=["community_id", "day"],
            set_={
                "joins": s.community_daily.c.joins + stmt.excluded.joins,
                "leaves": s.community_daily.c.leaves + stmt.excluded.leaves,
            },
        )
        stmt = ins(s.channel_terms)
        self.channel_terms = stmt.on_conflict_do_update(
            index_elements=["channel_id", "week", "term"],
            set_={"count": s.channel_terms.c.count + stmt.excluded["count"]},
        )
        self.interactions = (
            ins(s.interactions)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(s.interactions.c.id)
        )


def _greatest_zero(expr: Any, dialect: str) -> Any:
    # SQLite's two-argument max() is its scalar greatest().
    return func.max(expr, 0) if dialect == "sqlite" else func.greatest(expr, 0)


# -- statements that are the same on every backend --------------------------------------

m, r, ms = s.messages.c, s.reactions.c, s.memberships.c

EDIT = (
    update(s.messages)
    .where(
        and_(
            m.channel_id == bindparam("cid"),
            m.platform_id == bindparam("mid"),
            m.deleted_at.is_(None),
            (m.edited_at.is_(None)) | (m.edited_at < bindparam("ets")),
        )
    )
    .values(text=bindparam("etext"), edited_at=bindparam("ets"))
)
DELETE = (
    update(s.messages)
    .where(
        and_(
            m.channel_id == bindparam("cid"),
            m.platform_id == bindparam("mid"),
            m.deleted_at.is_(None),
        )
    )
    .values(text=None, deleted_at=bindparam("dts"))
)
EXISTING_MESSAGES = select(m.channel_id, m.platform_id, m.edited_at, m.deleted_at).where(
    tuple_(m.channel_id, m.platform_id).in_(bindparam("keys", expanding=True))
)
READD = (
    update(s.reactions)
    .where(
        and_(
            r.channel_id == bindparam("cid"),
            r.message_platform_id == bindparam("mid"),
            r.member_id == bindparam("uid"),
            r.emoji == bindparam("em"),
            r.removed.is_(True),
        )
    )
    .values(removed=False, removed_at=None)
)
UNREACT = (
    update(s.reactions)
    .where(
        and_(
            r.channel_id == bindparam("cid"),
            r.message_platform_id == bindparam("mid"),
            r.member_id == bindparam("uid"),
            r.emoji == bindparam("em"),
            r.removed.is_(False),
        )
    )
    .values(removed=True, removed_at=bindparam("rts"))
)
TALLY_ZERO = (
    update(s.reaction_tallies)
    .where(
        and_(
            s.reaction_tallies.c.channel_id == bindparam("cid"),
            s.reaction_tallies.c.message_platform_id == bindparam("mid"),
            s.reaction_tallies.c.emoji == bindparam("em"),
        )
    )
    .values(anonymous_count=0)
)
UNSEE = s.seen_events.delete().where(s.seen_events.c.key == bindparam("k"))
UNSEE_RETURNING = UNSEE.returning(s.seen_events.c.key)
JOIN = (
    update(s.memberships)
    .where(
        and_(
            ms.community_id == bindparam("cid"),
            ms.member_id == bindparam("uid"),
            (ms.joined_at.is_(None)) | (ms.joined_at < bindparam("jts")),
        )
    )
    .values(joined_at=bindparam("jts"), left_at=None)
)
LEAVE = (
    update(s.memberships)
    .where(
        and_(
            ms.community_id == bindparam("cid"),
            ms.member_id == bindparam("uid"),
            (ms.left_at.is_(None)) | (ms.left_at < bindparam("lts")),
        )
    )
    .values(left_at=bindparam("lts"))
)
CONSENT = (
    update(s.memberships)
    .where(
        and_(
            ms.community_id == bindparam("cid"),
            ms.member_id == bindparam("uid"),
            (ms.consent_updated_at.is_(None)) | (ms.consent_updated_at <= bindparam("cts")),
        )
    )
    .values(
        consent_profiling=func.coalesce(
            bindparam("profiling", type_=Boolean), ms.consent_profiling
        ),
        consent_dm=func.coalesce(bindparam("dm", type_=Boolean), ms.consent_dm),
        consent_updated_at=bindparam("cts"),
    )
)
RENAME_MEMBER = (
    update(s.members).where(s.members.c.id == bindparam("uid")).values(display_name=bindparam("nm"))
)
ANONYMOUS_CHANNELS = (
    select(s.channel_daily.c.channel_id).where(s.channel_daily.c.anonymous_messages > 0).distinct()
)
SEEN_AMONG = select(s.seen_events.c.key).where(
    s.seen_events.c.key.in_(bindparam("keys", expanding=True))
)
KNOWN_COURSES = select(s.courses.c.id).where(s.courses.c.id.in_(bindparam("ids", expanding=True)))
