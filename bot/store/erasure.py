"""Erasing a person (`forgetme`): every row about them, their traces in other rows.

Runs on the writer's thread (`Store.run_write`) in one transaction, so it is in
order with the batches being written and the writer's caches and the consent gate
change with it. For each identity of the person:

1. their messages and active reactions are first counted anonymously in the channel
   aggregates (daily counts, weekly terms, reaction tallies), which stay;
2. their platform id is cut out of other members' message text (Discord mentions
   such as `<@123>`), of deliveries and of the audit log; their display name is
   removed from deliveries (digest shout-outs), and quotes of their messages from
   channel posts not sent yet (a digest's "most discussed");
3. their interactions (impressions, clicks, purchases) are kept for the funnel but
   no longer point at anyone; their deliveries, link codes, memberships, mentions,
   reactions, messages and the member row are deleted, and an unlinked person row;
4. the erasure is remembered as a keyed hash of the identity and its time (see
   `ConsentGate.erase`), never as the id itself, and the privacy epoch changes, so
   every other process reloads its gate before its next write.

On SQLite, `secure_delete` zeroes what is deleted, and the write-ahead log is
checkpointed and truncated afterwards (`Store.checkpoint`), so the id is gone from
the database files; model artifacts are handled by `bot.training.artifacts`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from bot.store import schema as s
from bot.store.writer import EventWriter

REDACTED = "[deleted]"
# Shortest quote recognised: shorter spans ("ok", "thanks") are too common to be theirs.
QUOTE_MIN = 12
NOT_SENT = ("pending", "sending")


@dataclass
class ErasureCounts:
    """What an erasure removed or changed."""

    identities: list[str] = field(default_factory=list)  # member row ids, as model keys
    messages: int = 0
    reactions: int = 0
    anonymized_interactions: int = 0
    deliveries: int = 0
    scrubbed_messages: int = 0
    scrubbed_deliveries: int = 0
    scrubbed_audit: int = 0


def _id_pattern(*tokens: str) -> re.Pattern[str]:
    """Any of the tokens as a whole token (not inside a longer number or word)."""
    alternatives = "|".join(re.escape(token) for token in tokens)
    return re.compile(rf"(?<![0-9A-Za-z_])(?:{alternatives})(?![0-9A-Za-z_])")


def _scrub_json(value: Any, pattern: re.Pattern[str], names: set[str]) -> Any:
    """Replace the id in every string and drop spans whose text is exactly a name."""
    if isinstance(value, str):
        return REDACTED if value in names else pattern.sub(REDACTED, value)
    if isinstance(value, list):
        return [_scrub_json(item, pattern, names) for item in value]
    if isinstance(value, dict):
        return {key: _scrub_json(item, pattern, names) for key, item in value.items()}
    return value


def _flat(text: str) -> str:
    return " ".join(text.split())


def _quotes(value: str, texts: set[str], prefixes: list[str]) -> bool:
    """Whether a span quotes one of the texts: whole, or cut short with an ellipsis."""
    flat = _flat(value)
    if flat in texts:
        return True
    if flat.endswith("…") and len(flat) > QUOTE_MIN:
        start = flat[:-1]
        return any(text.startswith(start) for text in prefixes)
    return False


def _drop_quotes(value: Any, texts: set[str], prefixes: list[str]) -> Any:
    """Replace every string span that quotes one of the texts."""
    if isinstance(value, str):
        return REDACTED if _quotes(value, texts, prefixes) else value
    if isinstance(value, list):
        return [_drop_quotes(item, texts, prefixes) for item in value]
    if isinstance(value, dict):
        return {key: _drop_quotes(item, texts, prefixes) for key, item in value.items()}
    return value


def person_identities(conn: Connection, platform: str, member: str) -> list[tuple[str, str]]:
    """The identity and every identity linked to it (the whole person)."""
    m = s.members.c
    person = conn.execute(
        select(m.person_id).where(m.platform == platform, m.platform_id == member)
    ).scalar()
    if person is None:
        return [(platform, member)]
    linked = conn.execute(select(m.platform, m.platform_id).where(m.person_id == person))
    return sorted({(platform, member), *((row[0], row[1]) for row in linked)})


def erase_person(
    conn: Connection, writer: EventWriter, platform: str, member: str, at: datetime
) -> ErasureCounts:
    """Erase a member and every identity linked to them.

    Works for a member never stored too: the erasure is still remembered, so in
    opt-out mode they are not profiled from now on.
    """
    # Lock the privacy epoch first: writes of other processes in flight finish before,
    # and those starting now wait for this erasure and then see it.
    writer.sync_privacy(conn, exclusive=True)
    identities = person_identities(conn, platform, member)
    counts = ErasureCounts()
    m = s.members.c
    rows = conn.execute(
        select(m.id, m.platform, m.platform_id, m.display_name, m.person_id).where(
            or_(*((m.platform == p) & (m.platform_id == pid) for p, pid in identities))
        )
    ).all()
    ids = [row.id for row in rows]
    counts.identities = [str(i) for i in ids]
    texts = _fold_activity(conn, writer, ids, counts)
    deliveries: set[int] = set()  # changed by any of the scrubs, counted once
    for row in rows:
        names = {row.display_name} if row.display_name else set()
        pseudonym = writer.pseudonym(row.platform, row.platform_id)
        _scrub_traces(conn, ids, (row.platform_id, pseudonym), names, counts, deliveries)
    _scrub_quotes(conn, texts, deliveries)
    counts.scrubbed_deliveries = len(deliveries)
    i = s.interactions.c
    counts.anonymized_interactions = conn.execute(
        update(s.interactions).where(i.member_id.in_(ids)).values(member_id=None)
    ).rowcount
    counts.deliveries = conn.execute(delete(s.outbox).where(s.outbox.c.member_id.in_(ids))).rowcount
    conn.execute(
        update(s.audit_log)
        .where(s.audit_log.c.actor_member_id.in_(ids))
        .values(actor_member_id=None)
    )
    for table in (s.link_codes, s.mentions, s.reactions, s.messages, s.memberships):
        conn.execute(delete(table).where(table.c.member_id.in_(ids)))
    conn.execute(delete(s.members).where(m.id.in_(ids)))
    persons = {row.person_id for row in rows if row.person_id is not None}
    for person in persons:
        left = conn.execute(select(func.count()).where(m.person_id == person)).scalar_one()
        if left == 0:
            conn.execute(delete(s.persons).where(s.persons.c.id == person))
    for identity_platform, identity in identities:
        key = writer.gate.erase(identity_platform, identity, at)
        conn.execute(delete(s.erasures).where(s.erasures.c.key == key))
        conn.execute(insert(s.erasures).values(key=key, erased_at=at))
    writer.privacy_changed(conn)
    writer.ids.clear()
    return counts


def _fold_activity(
    conn: Connection, writer: EventWriter, ids: list[int], counts: ErasureCounts
) -> list[str]:
    """Count the members' messages and reactions anonymously; returns the message texts."""
    msg, r, m = s.messages.c, s.reactions.c, s.members.c
    messages = [
        (row.channel_id, row.platform_id, row.ts, row.text, row.reply_to is not None)
        for row in conn.execute(
            # Deleted messages too (their text is already gone): channel totals count
            # every message posted, stored or anonymous, deleted or not.
            select(msg.channel_id, msg.platform_id, msg.ts, msg.text, msg.reply_to).where(
                msg.member_id.in_(ids)
            )
        )
    ]
    reactions = [
        (row.channel_id, row.message_platform_id, row.platform_id, row.emoji, row.ts)
        for row in conn.execute(
            select(r.channel_id, r.message_platform_id, m.platform_id, r.emoji, r.ts)
            .select_from(s.reactions.join(s.members, m.id == r.member_id))
            .where(r.member_id.in_(ids), r.removed.is_(False))
        )
    ]
    counts.messages, counts.reactions = len(messages), len(reactions)
    writer.anonymize(conn, messages, reactions)
    return [message[3] for message in messages if message[3]]


def _scrub_quotes(conn: Connection, texts: list[str], scrubbed: set[int]) -> None:
    """Drop quotes of the erased messages from channel posts that are not sent yet."""
    flat = {_flat(text) for text in texts if len(_flat(text)) >= QUOTE_MIN}
    if not flat:
        return
    prefixes = sorted(flat)
    o = s.outbox.c
    for delivery in conn.execute(
        select(o.id, o.payload).where(o.kind == "channel", o.status.in_(NOT_SENT))
    ).all():
        cleaned = _drop_quotes(delivery.payload, flat, prefixes)
        if cleaned != delivery.payload:
            conn.execute(update(s.outbox).where(o.id == delivery.id).values(payload=cleaned))
            scrubbed.add(delivery.id)


def _scrub_traces(
    conn: Connection,
    ids: list[int],
    tokens: tuple[str, str],
    names: set[str],
    counts: ErasureCounts,
    scrubbed: set[int],
) -> None:
    """Cut the id and pseudonym (and, in channel posts, the name) out of rows that stay."""
    platform_id = tokens[0]
    pattern = _id_pattern(*tokens)
    likes = [f"%{token}%" for token in (*tokens, *names)]
    msg = s.messages.c
    for row in conn.execute(
        select(msg.id, msg.text).where(msg.text.like(f"%{platform_id}%"), msg.member_id.not_in(ids))
    ).all():
        cleaned = pattern.sub(REDACTED, row.text)
        if cleaned != row.text:
            conn.execute(update(s.messages).where(msg.id == row.id).values(text=cleaned))
            counts.scrubbed_messages += 1
    o = s.outbox.c
    payload_text = cast(o.payload, String)
    for delivery in conn.execute(
        select(o.id, o.payload).where(
            o.member_id.is_(None) | o.member_id.not_in(ids),
            or_(*(payload_text.like(like) for like in likes)),
        )
    ).all():
        cleaned = _scrub_json(delivery.payload, pattern, names)
        if cleaned != delivery.payload:
            conn.execute(update(s.outbox).where(o.id == delivery.id).values(payload=cleaned))
            scrubbed.add(delivery.id)
    a = s.audit_log.c
    details_text = cast(a.details, String)
    for entry in conn.execute(
        select(a.id, a.target, a.details).where(
            or_(
                *(a.target.like(f"%{token}%") for token in tokens),
                *(details_text.like(f"%{token}%") for token in tokens),
            )
        )
    ).all():
        target = pattern.sub(REDACTED, entry.target) if entry.target else entry.target
        details = _scrub_json(entry.details, pattern, set())
        if target != entry.target or json.dumps(details) != json.dumps(entry.details):
            conn.execute(
                update(s.audit_log).where(a.id == entry.id).values(target=target, details=details)
            )
            counts.scrubbed_audit += 1
