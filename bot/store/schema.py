"""The one schema, in SQLAlchemy Core; Alembic migrations create exactly this.

Identified rows (members, messages, reactions, mentions, interactions with a
member) exist only for members the consent gate lets through, and are their own
aggregate. Everyone else is counted only in aggregates: `channel_daily`,
`reaction_tallies`, `channel_terms`, and `community_daily` (joins and leaves of
everyone). `seen_events` keeps a keyed hash of each event counted only in
aggregates, so they stay idempotent under replays and re-imports.

`channel_terms` holds term counts of text Cohort does not keep: messages of members
who did not consent, and stored text once retention purges it. A channel's topics
are these counts plus the terms of its stored messages.

Messages, reactions and mentions point at messages by (channel, platform id),
not by a foreign key, because the message they refer to may belong to a member
we do not store.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

from bot.store.types import UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# 64-bit ids on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")
ID_LEN = 100
NOW = text("CURRENT_TIMESTAMP")

meta = Table(
    "cohort_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

communities = Table(
    "communities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("platform_id", String(ID_LEN), nullable=False),
    Column("name", String(200)),
    Column("timezone", String(64), nullable=False, server_default="UTC"),
    Column("locale", String(16)),
    Column("created_at", UTCDateTime, nullable=False, server_default=NOW),
    # Digest schedule: a cron expression in the community's timezone, and the channel.
    Column("digest_cron", String(100)),
    Column("digest_channel", String(ID_LEN)),
    UniqueConstraint("platform", "platform_id"),
)

channels = Table(
    "channels",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("community_id", Id, ForeignKey("communities.id", ondelete="CASCADE"), nullable=False),
    Column("platform_id", String(ID_LEN), nullable=False),
    Column("name", String(200)),
    Column("created_at", UTCDateTime, nullable=False, server_default=NOW),
    UniqueConstraint("community_id", "platform_id"),
)

# A person with identities on several platforms (see `link`); members without one
# are their own person.
persons = Table(
    "persons",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("created_at", UTCDateTime, nullable=False, server_default=NOW),
)

members = Table(
    "members",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("platform_id", String(ID_LEN), nullable=False),
    Column("display_name", String(200)),
    Column("locale", String(16)),
    Column("timezone", String(64)),
    Column("created_at", UTCDateTime, nullable=False, server_default=NOW),
    Column("person_id", Id, ForeignKey("persons.id", ondelete="SET NULL")),
    # DMs closed or the bot blocked: never retried until the member writes to the bot.
    Column("dm_unreachable_at", UTCDateTime),
    UniqueConstraint("platform", "platform_id"),
    Index(None, "person_id"),
)

# One-time codes proving that two platform identities are one person.
link_codes = Table(
    "link_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, server_default=NOW),
)

memberships = Table(
    "memberships",
    metadata,
    Column(
        "community_id",
        Id,
        ForeignKey("communities.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("joined_at", UTCDateTime),
    Column("left_at", UTCDateTime),
    # NULL: never asked; True: granted; False: refused or objected.
    Column("consent_profiling", Boolean),
    Column("consent_dm", Boolean),
    Column("consent_updated_at", UTCDateTime),
    Index(None, "member_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
    Column("platform_id", String(ID_LEN), nullable=False),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("text", Text),
    Column("reply_to", String(ID_LEN)),
    Column("thread", String(ID_LEN)),
    Column("edited_at", UTCDateTime),
    Column("deleted_at", UTCDateTime),
    UniqueConstraint("channel_id", "platform_id"),
    Index(None, "member_id", "ts"),
)

mentions = Table(
    "mentions",
    metadata,
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("message_platform_id", String(ID_LEN), primary_key=True),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Index(None, "member_id"),
)

reactions = Table(
    "reactions",
    metadata,
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("message_platform_id", String(ID_LEN), primary_key=True),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True),
    Column("emoji", String(100), primary_key=True),
    Column("ts", UTCDateTime, nullable=False),
    Column("removed", Boolean, nullable=False, server_default=false()),
    Column("removed_at", UTCDateTime),
    Index(None, "member_id"),
)

reaction_tallies = Table(
    "reaction_tallies",
    metadata,
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("message_platform_id", String(ID_LEN), primary_key=True),
    Column("emoji", String(100), primary_key=True),
    Column("anonymous_count", Integer, nullable=False, server_default="0"),
)

channel_daily = Table(
    "channel_daily",
    metadata,
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("anonymous_messages", Integer, nullable=False, server_default="0"),
    Column("anonymous_replies", Integer, nullable=False, server_default="0"),
    # 64-bit on PostgreSQL: exported reaction counts (each up to 2^31 - 1) add up here.
    Column("anonymous_reactions", Id, nullable=False, server_default="0"),
)

community_daily = Table(
    "community_daily",
    metadata,
    Column(
        "community_id",
        Id,
        ForeignKey("communities.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("day", Date, primary_key=True),
    Column("joins", Integer, nullable=False, server_default="0"),
    Column("leaves", Integer, nullable=False, server_default="0"),
)

channel_terms = Table(
    "channel_terms",
    metadata,
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True),
    Column("week", Date, primary_key=True),
    Column("term", String(64), primary_key=True),
    Column("count", Integer, nullable=False, server_default="0"),
)

# Members erased with `forgetme`: a keyed hash of (platform, member id), never the id.
erasures = Table(
    "erasures",
    metadata,
    Column("key", LargeBinary(16), primary_key=True),
    Column("erased_at", UTCDateTime, nullable=False),
)

seen_events = Table(
    "seen_events",
    metadata,
    Column("key", LargeBinary(16), primary_key=True),
    Column("day", Date, nullable=False),
)

courses = Table(
    "courses",
    metadata,
    Column("id", String(ID_LEN), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("tags", JSON, nullable=False),
    Column("level", String(32)),
    Column("language", String(16)),
    Column("price", Numeric(12, 2)),
    Column("currency", String(3)),
    Column("url", String(2000)),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_at", UTCDateTime, nullable=False, server_default=NOW),
    Column("updated_at", UTCDateTime, nullable=False, server_default=NOW),
)

# kind: impression | click | dismiss | interest | purchase
interactions = Table(
    "interactions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE")),
    Column("course_id", String(ID_LEN), ForeignKey("courses.id"), nullable=False),
    Column("community_id", Id, ForeignKey("communities.id", ondelete="SET NULL")),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="SET NULL")),
    Column("ts", UTCDateTime, nullable=False),
    Column("source", String(32), nullable=False),
    Column("variant", String(32)),
    Column("position", Integer),
    Column("amount", Numeric(12, 2)),
    Column("currency", String(3)),
    Column("token", String(64)),
    Column("attributed_to", Id, ForeignKey("interactions.id", ondelete="SET NULL")),
    Column("dedupe_key", String(128), unique=True),
    Index(None, "member_id", "kind"),
    Index(None, "course_id", "kind", "ts"),
    Index(None, "token"),
)

# kind: dm | channel | digest; status: pending | sending | sent | failed | unreachable | cancelled
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("community_id", Id, ForeignKey("communities.id", ondelete="CASCADE")),
    Column("member_id", Id, ForeignKey("members.id", ondelete="CASCADE")),
    Column("channel_id", Id, ForeignKey("channels.id", ondelete="CASCADE")),
    Column("course_id", String(ID_LEN), ForeignKey("courses.id")),
    Column("campaign", String(64)),
    # promotion | digest | recommendation: caps apply to promotions only.
    Column("purpose", String(16), nullable=False, server_default="promotion"),
    Column("run_id", Id, ForeignKey("scheduled_runs.id", ondelete="SET NULL")),
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("last_error", Text),
    # A claim: the dispatcher holding the row (`host:pid:token`) and until when;
    # `attempted_*` are written just before the network call, so a claim whose
    # holder died is released if it was never attempted, else reported uncertain.
    Column("claimed_by", String(128)),
    Column("claimed_until", UTCDateTime),
    Column("attempted_at", UTCDateTime),
    Column("attempted_via", String(255)),
    Column("dedupe_key", String(128), unique=True),
    Column("created_at", UTCDateTime, nullable=False, server_default=NOW),
    Column("sent_at", UTCDateTime),
    Index(None, "status", "next_attempt_at"),
)

scheduled_runs = Table(
    "scheduled_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job", String(64), nullable=False),
    Column("scope", String(ID_LEN), nullable=False),
    Column("period", String(64), nullable=False),
    Column("status", String(16), nullable=False, server_default="claimed"),
    Column("claimed_by", String(128)),
    Column("claimed_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    UniqueConstraint("job", "scope", "period"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ts", UTCDateTime, nullable=False),
    Column("community_id", Id, ForeignKey("communities.id", ondelete="SET NULL")),
    Column("actor_member_id", Id, ForeignKey("members.id", ondelete="SET NULL")),
    Column("action", String(64), nullable=False),
    Column("target", String(300)),
    Column("outcome", String(32), nullable=False),
    Column("details", JSON, nullable=False),
    Index(None, "community_id", "ts"),
)
