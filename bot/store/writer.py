"""Writing batches of events: one code path for the live pipeline and the bulk importers.

`EventWriter.write(conn, events)` is synchronous SQLAlchemy Core; callers run it
through `Store.run_write`, inside their transaction (on SQLite in the store's
writer thread). It applies the consent gate in event order, resolves platform ids
to row ids (cached), and writes each table with a few set-based statements per
batch. Only the thread running the writer mutates its caches and the gate.

What is stored, and what is only counted:
- Members the gate lets through are stored as rows (messages, reactions, mentions,
  memberships, interactions). Those rows are their own aggregate: a channel's
  activity is its stored rows plus the anonymous counts below.
- Everyone else is only counted: `channel_daily` (messages, replies, reactions),
  `reaction_tallies`, `channel_terms` (terms of text we do not keep) and
  `community_daily` (joins and leaves of everyone). Each anonymous count is guarded
  by a keyed hash in `seen_events`, so replays and re-imports never count twice.
- A message counted anonymously whose author later consents is stored on the next
  import and leaves the anonymous counts (its key is deleted: it moves once).

Other processes erase members and change consent too: every write transaction
first reads the store's privacy epoch (`bot.store.consents`) and reloads the gate
when it changed, so nobody erased or withdrawn anywhere is written under their
identity. Purchases of an erased member are dropped (logged, not stored at all).
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection

from bot.domain.consent import Consent, ConsentGate
from bot.domain.events import (
    ButtonPressed,
    CommunityEvent,
    ConsentChanged,
    Event,
    MemberJoined,
    MemberLeft,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    PurchaseMade,
    ReactionAdded,
    ReactionRemoved,
    ReactionsCounted,
)
from bot.store import statements as q
from bot.store.consents import bump_epoch, read_epoch, reload_gate
from bot.store.ids import IdResolver, MembershipKey
from bot.store.statements import Statements, sqlite_timestamp
from recsys.text import tokenize

log = logging.getLogger(__name__)

# Chunk for `IN (...)` lists: well under SQLite's and asyncpg's parameter limits.
IN_CHUNK = 900
# Terms per message counted in channel aggregates (long pastes add little).
MAX_TERMS_PER_MESSAGE = 200

ReactionKey = tuple[
    str, str, str, str, str, str
]  # platform, community, channel, msg, member, emoji


@dataclass(slots=True)
class WriteResult:
    """What a batch changed: new rows and new anonymous counts, not events seen."""

    events: int = 0
    messages: int = 0
    anonymous_messages: int = 0
    edits: int = 0
    deletes: int = 0
    reactions: int = 0
    anonymous_reactions: int = 0
    joins: int = 0
    leaves: int = 0
    consents: int = 0
    interactions: int = 0
    rejected: int = 0

    def add(self, other: WriteResult) -> None:
        """Accumulate another batch's counts into this one."""
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for JSON output)."""
        return {item.name: getattr(self, item.name) for item in fields(self)}


def week_of(day: date) -> date:
    """The Monday that starts `day`'s ISO week (the bucket for channel terms)."""
    return day - timedelta(days=day.weekday())


@dataclass(slots=True)
class _Batch:
    """One batch's events sorted by what they write, after the consent gate."""

    consents: list[ConsentChanged] = field(default_factory=list)
    messages: list[MessagePosted] = field(default_factory=list)
    anonymous_messages: list[MessagePosted] = field(default_factory=list)
    edits: list[MessageEdited] = field(default_factory=list)
    deletes: list[MessageDeleted] = field(default_factory=list)
    reactions: dict[ReactionKey, ReactionAdded | ReactionRemoved] = field(default_factory=dict)
    anonymous_reactions: dict[ReactionKey, ReactionAdded | ReactionRemoved] = field(
        default_factory=dict
    )
    snapshots: list[tuple[ReactionsCounted, list[str]]] = field(default_factory=list)
    memberships: list[tuple[MemberJoined | MemberLeft, bool]] = field(default_factory=list)
    buttons: list[tuple[ButtonPressed, bool]] = field(default_factory=list)
    purchases: list[tuple[PurchaseMade, bool]] = field(default_factory=list)
    erased_purchases: int = 0


@dataclass(slots=True)
class Aggregates:
    """Anonymous counts gathered over a batch, written once at its end."""

    daily: defaultdict[tuple[int, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0])
    )  # (channel, day) -> [messages, replies, reactions]
    terms: Counter[tuple[int, date, str]] = field(default_factory=Counter)
    community: defaultdict[tuple[int, date], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )  # (community, day) -> [joins, leaves]
    tallies: Counter[tuple[int, str, str]] = field(default_factory=Counter)


class EventWriter:
    """Writes validated events to the store; owns the id caches and keeps the gate current."""

    def __init__(self, dialect: str, gate: ConsentGate, key: bytes) -> None:
        self.gate = gate
        self._key = key
        self._sql = Statements(dialect)
        self._sqlite = dialect == "sqlite"
        self.ids = IdResolver(self._sql)
        self._courses: set[str] = set()
        # Channels where some message was counted anonymously (None: not loaded yet).
        self._anonymous_channels: set[int] | None = None
        # Gate changes since the last commit, to undo if the transaction rolls back.
        self._undo: list[tuple[str, str, str, Consent]] = []
        # The privacy epoch the gate reflects (None: reload at the next write).
        self._epoch: str | None = None

    def committed(self) -> None:
        """Call after the transaction holding the written batches committed."""
        self._undo.clear()

    def rolled_back(self) -> None:
        """Call after that transaction rolled back: undo gate changes, drop cached ids."""
        for platform, community, member, before in reversed(self._undo):
            self.gate.restore(platform, community, member, before)
        self._undo.clear()
        self.ids.clear()
        self._courses.clear()
        self._anonymous_channels = None
        self._epoch = None

    def sync_privacy(self, conn: Connection, *, exclusive: bool = False) -> bool:
        """Reload the gate if consent or erasures changed since it was loaded; True if so.

        Call first in a write transaction (`write` does): the epoch stays locked until
        the transaction ends, so no erasure can slip in between the check and the
        write. `exclusive` when the transaction may change consent itself.
        """
        epoch = read_epoch(conn, exclusive=exclusive)
        if epoch == self._epoch:
            return False
        reload_gate(conn, self.gate, self.identity_hash)
        # Rows of erased members are gone: cached ids and channels may be stale.
        self.ids.clear()
        self._anonymous_channels = None
        self._epoch = epoch
        log.debug("consent or erasures changed elsewhere; gate reloaded")
        return True

    def privacy_changed(self, conn: Connection) -> None:
        """Tell every process that consent or an erasure changed in this transaction."""
        before, after = bump_epoch(conn)
        # Still current only if nobody else changed it since this gate was loaded.
        self._epoch = after if before == self._epoch else None

    def _hash(self, *parts: str) -> bytes:
        return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16, key=self._key).digest()

    def identity_hash(self, platform: str, member: str) -> bytes:
        """The keyed hash an erasure is remembered by (see `ConsentGate.erase`)."""
        return self._hash("erasure", platform, member)

    def pseudonym(self, *parts: str) -> str:
        """A keyed hash of `parts` (hex): recognises an identity without storing it."""
        return self._hash("pseudonym", *parts).hex()

    # -- sorting ---------------------------------------------------------------------

    def _sort(self, events: Iterable[Event]) -> _Batch:
        gate = self.gate
        batch = _Batch()
        for event in events:
            if isinstance(event, MessagePosted):
                if gate.identifies(event.platform, event.community, event.member):
                    batch.messages.append(event)
                else:
                    batch.anonymous_messages.append(event)
            elif isinstance(event, ReactionAdded | ReactionRemoved):
                key = (
                    event.platform,
                    event.community,
                    event.channel,
                    event.message,
                    event.member,
                    event.emoji,
                )
                if gate.identifies(event.platform, event.community, event.member):
                    batch.reactions[key] = event
                else:
                    batch.anonymous_reactions[key] = event
            elif isinstance(event, MessageEdited):
                batch.edits.append(event)
            elif isinstance(event, MessageDeleted):
                batch.deletes.append(event)
            elif isinstance(event, ConsentChanged):
                before = gate.consent(event.platform, event.community, event.member)
                applied = gate.record(
                    event.platform,
                    event.community,
                    event.member,
                    event.profiling,
                    event.dm,
                    event.ts,
                )
                if applied is not None:
                    self._undo.append((event.platform, event.community, event.member, before))
                    batch.consents.append(event)
            elif isinstance(event, ReactionsCounted):
                known = [
                    reactor
                    for reactor in event.reactors
                    if gate.identifies(event.platform, event.community, reactor)
                ]
                batch.snapshots.append((event, known))
            elif isinstance(event, MemberJoined | MemberLeft):
                identified = gate.identifies(event.platform, event.community, event.member)
                batch.memberships.append((event, identified))
            elif isinstance(event, ButtonPressed):
                identified = gate.identifies(event.platform, event.community, event.member)
                batch.buttons.append((event, identified))
            elif isinstance(event, PurchaseMade):
                if gate.erased_at(event.platform, event.member) is not None:
                    log.warning(
                        "purchase (order %s) of an erased member dropped: not stored",
                        event.order or "without id",
                    )
                    batch.erased_purchases += 1
                    continue
                identified = (
                    gate.identifies(event.platform, event.community, event.member)
                    if event.community
                    else gate.identifies_anywhere(event.platform, event.member)
                )
                batch.purchases.append((event, identified))
            else:  # pragma: no cover - every Event subclass is handled above
                raise TypeError(f"cannot write {type(event).__name__}")
        return batch

    # -- resolving ids ---------------------------------------------------------------

    def _resolve(self, conn: Connection, events: Sequence[Event], batch: _Batch) -> None:
        ids = self.ids
        communities: dict[tuple[str, str], str | None] = {}
        wanted_channels: dict[tuple[str, str, str], str | None] = {}
        for event in events:
            community = getattr(event, "community", None)
            if community is None:
                continue
            key = (event.platform, community)
            name = getattr(event, "community_name", None)
            if name or key not in communities:
                communities[key] = name
            channel = getattr(event, "channel", None)
            if channel is not None:
                place = (event.platform, community, channel)
                name = getattr(event, "channel_name", None)
                if name or place not in wanted_channels:
                    wanted_channels[place] = name
        ids.resolve_communities(conn, communities)
        ids.resolve_channels(
            conn,
            {(ids.community(p, c), ch): name for (p, c, ch), name in wanted_channels.items()},
        )

        members: dict[tuple[str, str], str | None] = {}
        memberships: set[MembershipKey] = set()
        cached = ids.members

        def want(platform: str, community: str | None, member: str, name: str | None) -> None:
            key = (platform, member)
            if name or key not in members:
                members[key] = name
            if community is not None:
                memberships.add((platform, community, member))

        gate = self.gate
        for message in batch.messages:
            hit = cached.get((message.platform, message.member))
            if hit is None or (message.member_name and hit[1] != message.member_name):
                want(message.platform, message.community, message.member, message.member_name)
            elif not ids.knows_membership(message.platform, message.community, message.member):
                memberships.add((message.platform, message.community, message.member))
            for mentioned in message.mentions:
                if gate.identifies(message.platform, message.community, mentioned):
                    want(message.platform, message.community, mentioned, None)
        for reaction in batch.reactions.values():
            want(reaction.platform, reaction.community, reaction.member, None)
        for consent in batch.consents:
            want(consent.platform, consent.community, consent.member, consent.member_name)
        for snapshot, known in batch.snapshots:
            for reactor in known:
                want(snapshot.platform, snapshot.community, reactor, None)
        for change, identified in batch.memberships:
            if identified:
                name = change.member_name if isinstance(change, MemberJoined) else None
                want(change.platform, change.community, change.member, name)
        for button, identified in batch.buttons:
            if identified:
                want(button.platform, button.community, button.member, None)
        for purchase, identified in batch.purchases:
            if identified:
                want(purchase.platform, purchase.community, purchase.member, None)
        ids.resolve_members(conn, members)
        ids.ensure_memberships(conn, memberships)

    def _channel_of(self, event: CommunityEvent, channel: str) -> int:
        return self.ids.channel(self.ids.community(event.platform, event.community), channel)

    # -- writing ---------------------------------------------------------------------

    def write(self, conn: Connection, events: Sequence[Event]) -> WriteResult:
        """Write `events` inside the caller's transaction and return what changed."""
        result = WriteResult(events=len(events))
        if not events:
            return result
        self.ids.trim()
        self.sync_privacy(conn, exclusive=any(isinstance(e, ConsentChanged) for e in events))
        batch = self._sort(events)
        result.rejected += batch.erased_purchases
        self._resolve(conn, events, batch)
        counts = Aggregates()
        self._write_consents(conn, batch, result)
        self._write_messages(conn, batch, result, counts)
        self._count_anonymous_messages(conn, batch, result, counts)
        self._write_edits(conn, batch, result)
        self._write_reactions(conn, batch, result)
        self._count_anonymous_reactions(conn, batch, result, counts)
        self._write_snapshots(conn, batch, result, counts)
        self._write_memberships(conn, batch, result, counts)
        self._write_interactions(conn, batch, result)
        self.write_aggregates(conn, counts)
        return result

    def _write_consents(self, conn: Connection, batch: _Batch, result: WriteResult) -> None:
        if not batch.consents:
            return
        ids = self.ids
        conn.execute(
            q.CONSENT,
            [
                {
                    "cid": ids.community(event.platform, event.community),
                    "uid": ids.member(event.platform, event.member),
                    "cts": event.ts,
                    "profiling": event.profiling,
                    "dm": event.dm,
                }
                for event in batch.consents
            ],
        )
        self.privacy_changed(conn)
        result.consents += len(batch.consents)

    def _insert_messages(self, conn: Connection, rows: list[tuple[Any, ...]]) -> int:
        """Insert message rows (MESSAGE_COLUMNS order); return how many were new."""
        if self._sqlite:
            # Driver-level executemany: the hot path, without per-row SQLAlchemy work.
            inserted = conn.exec_driver_sql(self._sql.messages_sql, rows)
            return max(inserted.rowcount, 0)
        returned = conn.execute(
            self._sql.messages_returning,
            [dict(zip(q.MESSAGE_COLUMNS, row, strict=True)) for row in rows],
        )
        return len(returned.all())

    def _write_messages(
        self, conn: Connection, batch: _Batch, result: WriteResult, counts: Aggregates
    ) -> None:
        """Store the identified messages and their mentions of identified members."""
        if not batch.messages:
            return
        ids, gate = self.ids, self.gate
        communities, channels, members = ids.communities, ids.channels, ids.members
        timestamp = sqlite_timestamp if self._sqlite else None
        stored: dict[tuple[int, str], MessagePosted] = {}
        rows: list[tuple[Any, ...]] = []
        mention_rows: list[dict[str, Any]] = []
        for message in batch.messages:
            platform = message.platform
            cid = channels[(communities[(platform, message.community)][0], message.channel)][0]
            place = (cid, message.message)
            if place in stored:
                continue  # the same message twice in one batch (exports repeat ids)
            stored[place] = message
            rows.append(
                (
                    cid,
                    message.message,
                    members[(platform, message.member)][0],
                    timestamp(message.ts) if timestamp else message.ts,
                    message.text,
                    message.reply_to,
                    message.thread,
                )
            )
            for mentioned in message.mentions:
                if ids.has_member(platform, mentioned) and gate.identifies(
                    platform, message.community, mentioned
                ):
                    mention_rows.append(
                        {
                            "channel_id": cid,
                            "message_platform_id": message.message,
                            "member_id": ids.member(platform, mentioned),
                        }
                    )
        result.messages += self._insert_messages(conn, rows)
        if mention_rows:
            conn.execute(self._sql.mentions, mention_rows)
        self._promote(conn, stored, counts)

    def _promote(
        self,
        conn: Connection,
        stored: dict[tuple[int, str], MessagePosted],
        counts: Aggregates,
    ) -> None:
        """Take stored messages that were counted anonymously out of the anonymous counts."""
        anonymous_channels = self._channels_with_anonymous(conn)
        keys = {
            self._hash("m", str(cid), mid): (cid, mid)
            for cid, mid in stored
            if cid in anonymous_channels
        }
        if not keys:
            return
        found = self._seen_among(conn, set(keys))
        if not found:
            return
        conn.execute(q.UNSEE, [{"k": key} for key in sorted(found)])
        for key in found:
            message = stored[keys[key]]
            daily = counts.daily[(keys[key][0], message.ts.date())]
            daily[0] -= 1
            daily[1] -= 1 if message.reply_to else 0

    def _count_anonymous_messages(
        self, conn: Connection, batch: _Batch, result: WriteResult, counts: Aggregates
    ) -> None:
        """Count messages we may not store, with their terms, once each."""
        if not batch.anonymous_messages:
            return
        keyed: dict[bytes, date] = {}
        by_key: dict[bytes, tuple[MessagePosted, int]] = {}
        for message in batch.anonymous_messages:
            cid = self._channel_of(message, message.channel)
            key = self._hash("m", str(cid), message.message)
            if key not in by_key:
                by_key[key] = (message, cid)
                keyed[key] = message.ts.date()
        new = self._new_keys(conn, keyed)
        if not new:
            return
        # Stored while its author had consented (since withdrawn): already counted as a row.
        stored = self._existing_messages(conn, {(by_key[k][1], by_key[k][0].message) for k in new})
        already = [k for k in new if (by_key[k][1], by_key[k][0].message) in stored]
        if already:
            conn.execute(q.UNSEE, [{"k": key} for key in sorted(already)])
        anonymous_channels = self._channels_with_anonymous(conn)
        for key in new.difference(already):
            message, cid = by_key[key]
            day = message.ts.date()
            daily = counts.daily[(cid, day)]
            daily[0] += 1
            daily[1] += 1 if message.reply_to else 0
            result.anonymous_messages += 1
            anonymous_channels.add(cid)
            week = week_of(day)
            for term in tokenize(message.text)[:MAX_TERMS_PER_MESSAGE]:
                counts.terms[(cid, week, term)] += 1

    def anonymize(
        self,
        conn: Connection,
        messages: Iterable[tuple[int, str, datetime, str | None, bool]],
        reactions: Iterable[tuple[int, str, str, str, datetime]],
    ) -> tuple[int, int]:
        """Count stored activity anonymously before its rows are erased.

        `messages`: (channel row id, message platform id, time, text, is reply);
        `reactions`: (channel row id, message platform id, member platform id, emoji,
        time), active ones only. They join the channel aggregates exactly as if they
        had arrived anonymously (seen keys included, so a replay is not counted
        twice). Returns how many messages and reactions were newly counted.
        """
        counts = Aggregates()
        by_key: dict[bytes, tuple[int, str, datetime, str | None, bool]] = {}
        for message in messages:
            by_key[self._hash("m", str(message[0]), message[1])] = message
        new_messages = self._new_keys(
            conn, {key: message[2].date() for key, message in by_key.items()}
        )
        anonymous_channels = self._channels_with_anonymous(conn)
        for key in new_messages:
            cid, _, ts, text, is_reply = by_key[key]
            daily = counts.daily[(cid, ts.date())]
            daily[0] += 1
            daily[1] += 1 if is_reply else 0
            anonymous_channels.add(cid)
            week = week_of(ts.date())
            for term in tokenize(text or "")[:MAX_TERMS_PER_MESSAGE]:
                counts.terms[(cid, week, term)] += 1
        reacted: dict[bytes, tuple[int, str, str, str, datetime]] = {
            self._hash("r", str(r[0]), r[1], r[2], r[3]): r for r in reactions
        }
        new_reactions = self._new_keys(
            conn, {key: reaction[4].date() for key, reaction in reacted.items()}
        )
        for key in new_reactions:
            cid, message_id, _, emoji, ts = reacted[key]
            counts.tallies[(cid, message_id, emoji)] += 1
            counts.daily[(cid, ts.date())][2] += 1
        self.write_aggregates(conn, counts)
        return len(new_messages), len(new_reactions)

    def _write_edits(self, conn: Connection, batch: _Batch, result: WriteResult) -> None:
        """Apply edits newer than the stored text, and deletions; count only real changes."""
        if not batch.edits and not batch.deletes:
            return
        latest: dict[tuple[int, str], MessageEdited] = {}
        for edit in batch.edits:
            key = (self._channel_of(edit, edit.channel), edit.message)
            if key not in latest or latest[key].ts <= edit.ts:
                latest[key] = edit
        deletes = {(self._channel_of(d, d.channel), d.message): d for d in batch.deletes}
        stored = self._existing_messages(conn, set(latest) | set(deletes))
        edits = [
            {"cid": key[0], "mid": key[1], "etext": edit.text, "ets": edit.ts}
            for key, edit in latest.items()
            if key in stored and stored[key][1] is None and _older(stored[key][0], edit.ts)
        ]
        if edits:
            conn.execute(q.EDIT, edits)
            result.edits += len(edits)
        removals = [
            {"cid": key[0], "mid": key[1], "dts": delete.ts}
            for key, delete in deletes.items()
            if key in stored and stored[key][1] is None
        ]
        if removals:
            conn.execute(q.DELETE, removals)
            result.deletes += len(removals)

    def _write_reactions(self, conn: Connection, batch: _Batch, result: WriteResult) -> None:
        """Identified reactions: rows with a `removed` flag (the last action in a batch wins)."""
        adds: list[dict[str, Any]] = []
        removes: list[dict[str, Any]] = []
        for reaction in batch.reactions.values():
            cid = self._channel_of(reaction, reaction.channel)
            uid = self.ids.member(reaction.platform, reaction.member)
            if isinstance(reaction, ReactionAdded):
                adds.append(
                    {
                        "channel_id": cid,
                        "message_platform_id": reaction.message,
                        "member_id": uid,
                        "emoji": reaction.emoji,
                        "ts": reaction.ts,
                        "removed": False,
                        "removed_at": None,
                    }
                )
            else:
                removes.append(
                    {
                        "cid": cid,
                        "mid": reaction.message,
                        "uid": uid,
                        "em": reaction.emoji,
                        "rts": reaction.ts,
                    }
                )
        if adds:
            new = {tuple(row) for row in conn.execute(self._sql.new_reactions, adds)}
            result.reactions += len(new)
            again = [
                {
                    "cid": row["channel_id"],
                    "mid": row["message_platform_id"],
                    "uid": row["member_id"],
                    "em": row["emoji"],
                }
                for row in adds
                if (row["channel_id"], row["message_platform_id"], row["member_id"], row["emoji"])
                not in new
            ]
            if again:
                conn.execute(q.READD, again)
        if removes:
            conn.execute(q.UNREACT, removes)

    def _count_anonymous_reactions(
        self, conn: Connection, batch: _Batch, result: WriteResult, counts: Aggregates
    ) -> None:
        """Anonymous reactions: a net tally per message and emoji, and a daily count."""
        if not batch.anonymous_reactions:
            return
        added: dict[bytes, ReactionAdded] = {}
        removed: list[tuple[bytes, int, ReactionRemoved]] = []
        for reaction in batch.anonymous_reactions.values():
            cid = self._channel_of(reaction, reaction.channel)
            key = self._hash("r", str(cid), reaction.message, reaction.member, reaction.emoji)
            if isinstance(reaction, ReactionAdded):
                added[key] = reaction
            else:
                removed.append((key, cid, reaction))
        new = self._new_keys(conn, {key: event.ts.date() for key, event in added.items()})
        for key in new:
            reaction = added[key]
            cid = self._channel_of(reaction, reaction.channel)
            counts.tallies[(cid, reaction.message, reaction.emoji)] += 1
            counts.daily[(cid, reaction.ts.date())][2] += 1
            result.anonymous_reactions += 1
        for key, cid, withdrawn in removed:
            gone = conn.execute(q.UNSEE_RETURNING, {"k": key})
            if gone.first() is not None:
                counts.tallies[(cid, withdrawn.message, withdrawn.emoji)] -= 1

    def _write_snapshots(
        self, conn: Connection, batch: _Batch, result: WriteResult, counts: Aggregates
    ) -> None:
        """Export reaction counts: named consenting reactors as rows, the rest as a tally."""
        if not batch.snapshots:
            return
        tallies: list[dict[str, Any]] = []
        reactors: list[dict[str, Any]] = []
        keyed: dict[bytes, date] = {}
        anonymous_part: dict[bytes, tuple[int, int]] = {}
        for snapshot, known in batch.snapshots:
            cid = self._channel_of(snapshot, snapshot.channel)
            anonymous = max(0, snapshot.count - len(known))
            tallies.append(
                {
                    "channel_id": cid,
                    "message_platform_id": snapshot.message,
                    "emoji": snapshot.emoji,
                    "anonymous_count": anonymous,
                }
            )
            for reactor in known:
                reactors.append(
                    {
                        "channel_id": cid,
                        "message_platform_id": snapshot.message,
                        "member_id": self.ids.member(snapshot.platform, reactor),
                        "emoji": snapshot.emoji,
                        "ts": snapshot.ts,
                        "removed": False,
                        "removed_at": None,
                    }
                )
            key = self._hash("rc", str(cid), snapshot.message, snapshot.emoji)
            keyed[key] = snapshot.ts.date()
            anonymous_part[key] = (cid, anonymous)
        if reactors:
            inserted = conn.execute(self._sql.new_reactions, reactors)
            result.reactions += len(inserted.all())
        # A tally row only where someone anonymous reacted; zero out a stale one otherwise.
        positive = [row for row in tallies if row["anonymous_count"] > 0]
        if positive:
            conn.execute(self._sql.tally_set, positive)
        zero = [
            {"cid": row["channel_id"], "mid": row["message_platform_id"], "em": row["emoji"]}
            for row in tallies
            if row["anonymous_count"] == 0
        ]
        if zero:
            conn.execute(q.TALLY_ZERO, zero)
        for key in self._new_keys(conn, keyed):
            cid, anonymous = anonymous_part[key]
            counts.daily[(cid, keyed[key])][2] += anonymous
            result.anonymous_reactions += anonymous

    def _write_memberships(
        self, conn: Connection, batch: _Batch, result: WriteResult, counts: Aggregates
    ) -> None:
        """Membership times for identified members; daily join/leave counts for everyone."""
        if not batch.memberships:
            return
        joins: list[dict[str, Any]] = []
        leaves: list[dict[str, Any]] = []
        keyed: dict[bytes, date] = {}
        change_of: dict[bytes, tuple[int, bool]] = {}
        for change, identified in batch.memberships:
            cid = self.ids.community(change.platform, change.community)
            is_join = isinstance(change, MemberJoined)
            if identified:
                row = {"cid": cid, "uid": self.ids.member(change.platform, change.member)}
                if is_join:
                    joins.append({**row, "jts": change.ts})
                else:
                    leaves.append({**row, "lts": change.ts})
            # One join (leave) per member per day: Telegram reports the same join both as a
            # chat_member update and as a service message, with different timestamps.
            day = change.ts.date()
            key = self._hash("j" if is_join else "l", str(cid), change.member, day.isoformat())
            keyed[key] = day
            change_of[key] = (cid, is_join)
        if joins:
            conn.execute(q.JOIN, joins)
        if leaves:
            conn.execute(q.LEAVE, leaves)
        for key in self._new_keys(conn, keyed):
            cid, is_join = change_of[key]
            counts.community[(cid, keyed[key])][0 if is_join else 1] += 1
            if is_join:
                result.joins += 1
            else:
                result.leaves += 1

    def _write_interactions(self, conn: Connection, batch: _Batch, result: WriteResult) -> None:
        """Button presses and purchases; idempotent on the platform's or the order's id."""
        if not batch.buttons and not batch.purchases:
            return
        wanted = {b.course for b, _ in batch.buttons} | {p.course for p, _ in batch.purchases}
        known = self._known_courses(conn, wanted)
        ids = self.ids
        rows: list[dict[str, Any]] = []
        for button, identified in batch.buttons:
            if button.course not in known:
                log.warning("button press for unknown course %r dropped", button.course)
                result.rejected += 1
                continue
            dedupe = (
                f"button:{button.platform}:{button.interaction}"
                if button.interaction
                else "button:"
                + self._hash(
                    button.platform,
                    button.member,
                    button.course,
                    button.action,
                    button.ts.isoformat(),
                ).hex()
            )
            rows.append(
                _interaction(
                    kind=button.action,
                    member=ids.member(button.platform, button.member) if identified else None,
                    course=button.course,
                    community=ids.community(button.platform, button.community),
                    channel=self._channel_of(button, button.channel) if button.channel else None,
                    ts=button.ts,
                    source=button.platform,
                    variant=button.variant,
                    position=button.position,
                    token=button.token,
                    dedupe=dedupe,
                )
            )
        for purchase, identified in batch.purchases:
            if purchase.course not in known:
                log.warning("purchase of unknown course %r dropped", purchase.course)
                result.rejected += 1
                continue
            dedupe = (
                f"purchase:{purchase.source}:{purchase.order}"
                if purchase.order
                else "purchase:"
                + self._hash(
                    purchase.platform, purchase.member, purchase.course, purchase.ts.isoformat()
                ).hex()
            )
            rows.append(
                _interaction(
                    kind="purchase",
                    member=ids.member(purchase.platform, purchase.member) if identified else None,
                    course=purchase.course,
                    community=ids.community(purchase.platform, purchase.community)
                    if purchase.community
                    else None,
                    channel=None,
                    ts=purchase.ts,
                    source=purchase.source,
                    amount=None if purchase.amount is None else Decimal(str(purchase.amount)),
                    currency=purchase.currency,
                    token=purchase.token,
                    dedupe=dedupe,
                )
            )
        if rows:
            inserted = conn.execute(self._sql.interactions, rows)
            result.interactions += len(inserted.all())

    def write_aggregates(self, conn: Connection, counts: Aggregates) -> None:
        """Apply the batch's anonymous counts (sorted, so concurrent writers never deadlock)."""
        daily = [
            {
                "channel_id": cid,
                "day": day,
                "anonymous_messages": v[0],
                "anonymous_replies": v[1],
                "anonymous_reactions": v[2],
            }
            for (cid, day), v in sorted(counts.daily.items())
            if any(v)
        ]
        if daily:
            conn.execute(self._sql.channel_daily, daily)
        if counts.terms:
            conn.execute(
                self._sql.channel_terms,
                [
                    {"channel_id": cid, "week": week, "term": term, "count": n}
                    for (cid, week, term), n in sorted(counts.terms.items())
                ],
            )
        community = [
            {"community_id": cid, "day": day, "joins": v[0], "leaves": v[1]}
            for (cid, day), v in sorted(counts.community.items())
        ]
        if community:
            conn.execute(self._sql.community_daily, community)
        tallies = [
            {"channel_id": cid, "message_platform_id": mid, "emoji": emoji, "anonymous_count": n}
            for (cid, mid, emoji), n in sorted(counts.tallies.items())
            if n
        ]
        if tallies:
            conn.execute(self._sql.tally_increment, tallies)

    # -- lookups -------------------------------------------------------------------------

    def _new_keys(self, conn: Connection, keyed: dict[bytes, date]) -> set[bytes]:
        """Insert keys into `seen_events`; return those that were not there before."""
        if not keyed:
            return set()
        rows = [{"key": key, "day": day} for key, day in sorted(keyed.items())]
        result = conn.execute(self._sql.seen, rows)
        return {bytes(row.key) for row in result}

    def _seen_among(self, conn: Connection, keys: set[bytes]) -> set[bytes]:
        """Which of `keys` are in `seen_events`."""
        found: set[bytes] = set()
        ordered = sorted(keys)
        for start in range(0, len(ordered), IN_CHUNK):
            result = conn.execute(q.SEEN_AMONG, {"keys": ordered[start : start + IN_CHUNK]})
            found.update(bytes(row.key) for row in result)
        return found

    def _channels_with_anonymous(self, conn: Connection) -> set[int]:
        """Channels where a message was ever counted anonymously (only they can promote)."""
        if self._anonymous_channels is None:
            result = conn.execute(q.ANONYMOUS_CHANNELS)
            self._anonymous_channels = {row.channel_id for row in result}
        return self._anonymous_channels

    def _existing_messages(
        self, conn: Connection, keys: set[tuple[int, str]]
    ) -> dict[tuple[int, str], tuple[datetime | None, datetime | None]]:
        """Stored messages among `keys`: (channel id, platform id) -> (edited_at, deleted_at)."""
        found: dict[tuple[int, str], tuple[datetime | None, datetime | None]] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), IN_CHUNK // 2):
            result = conn.execute(
                q.EXISTING_MESSAGES, {"keys": ordered[start : start + IN_CHUNK // 2]}
            )
            for row in result:
                found[(row.channel_id, row.platform_id)] = (row.edited_at, row.deleted_at)
        return found

    def _known_courses(self, conn: Connection, wanted: set[str]) -> set[str]:
        missing = sorted(wanted - self._courses)
        for start in range(0, len(missing), IN_CHUNK):
            result = conn.execute(q.KNOWN_COURSES, {"ids": missing[start : start + IN_CHUNK]})
            self._courses.update(row.id for row in result)
        return wanted & self._courses


def _older(stored: datetime | None, ts: datetime) -> bool:
    return stored is None or stored < ts


def _interaction(
    *,
    kind: str,
    member: int | None,
    course: str,
    community: int | None,
    channel: int | None,
    ts: datetime,
    source: str,
    dedupe: str,
    variant: str | None = None,
    position: int | None = None,
    amount: Decimal | None = None,
    currency: str | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "member_id": member,
        "course_id": course,
        "community_id": community,
        "channel_id": channel,
        "ts": ts,
        "source": source,
        "variant": variant,
        "position": position,
        "amount": amount,
        "currency": currency,
        "token": token,
        "attributed_to": None,
        "dedupe_key": dedupe,
    }
