"""Everything training needs, read from the store once and shaped for `recsys`.

Members are keyed by their store row id as text (`"42"`), never by platform id, so
trained artifacts hold no platform identities; `MemberRow` maps them back.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bot.domain.consent import ConsentGate
from bot.store import training as training_rows
from bot.store.courses import Course, list_courses
from bot.store.store import Store
from bot.store.training import CommunityRow, MemberRow, StoredMessage
from recsys.activity import ActivityLog, MessageRow, ReactionRow

log = logging.getLogger(__name__)


def community_key(community: CommunityRow) -> str:
    """How a community is named in artifacts and on the command line: `platform:id`."""
    return f"{community.platform}:{community.platform_id}"


@dataclass
class TrainingInputs:
    """Stored activity, interactions and the catalog, as of `now`."""

    now: datetime
    communities: list[CommunityRow]
    members: list[MemberRow]
    messages: list[StoredMessage]
    reactions: list[tuple[int, int | None, datetime]]
    mentions: dict[str, list[int]]
    interactions: list[tuple[int, str, str, datetime]]
    courses: list[Course]
    member_communities: dict[int, set[int]] = field(default_factory=dict)

    @property
    def member_keys(self) -> list[str]:
        """Every stored member's key, in row id order."""
        return [str(m.id) for m in self.members]

    def activity(self, community: int | None = None) -> ActivityLog:
        """The activity log of one community, or of all of them."""
        member_ids = [
            str(m.id)
            for m in self.members
            if community is None or community in self.member_communities.get(m.id, set())
        ]
        wanted = set(member_ids)
        rows = [
            MessageRow(
                id=msg.key,
                member=str(msg.member),
                channel=str(msg.channel),
                ts=msg.ts.timestamp(),
                text=msg.text,
                reply_to=msg.reply_to,
                mentions=[str(t) for t in self.mentions.get(msg.key, ()) if str(t) in wanted],
                reactions=msg.reactions,
            )
            for msg in self.messages
            if community is None or msg.community == community
        ]
        in_log = {row.member for row in rows} | wanted
        reaction_rows = [
            ReactionRow(
                member=str(reactor),
                author=str(author) if author is not None and str(author) in in_log else None,
                ts=ts.timestamp(),
            )
            for reactor, author, ts in self.reactions
            if str(reactor) in in_log
        ]
        joined = {
            str(m.id): m.joined_at.timestamp()
            for m in self.members
            if m.joined_at is not None and str(m.id) in wanted
        }
        return ActivityLog.build(
            rows, reaction_rows, now=self.now.timestamp(), joined=joined, members=member_ids
        )


def person_keys(members: list[MemberRow]) -> dict[int, int]:
    """Linked identities -> the identity that represents their person in the models.

    A person (identities proven the same with `/link`) is trained as one member: the
    lowest row id among their consenting identities. Only the others are in the map.
    """
    by_person: defaultdict[int, list[int]] = defaultdict(list)
    for member in members:
        if member.person_id is not None:
            by_person[member.person_id].append(member.id)
    return {
        other: min(ids)
        for ids in by_person.values()
        if len(ids) > 1
        for other in ids
        if other != min(ids)
    }


async def load_inputs(
    store: Store, gate: ConsentGate, now: datetime | None = None
) -> TrainingInputs:
    """Read what training needs; `now` is the reference time (default: the present).

    Only what the consent gate allows *now* is used: a member row kept only to record
    an objection, or the history of someone who withdrew consent, never trains a model.
    """
    now = now or datetime.now(UTC)
    async with store.read() as conn:
        communities = await training_rows.communities(conn)
        everyone = await training_rows.members(conn)
        member_communities: defaultdict[int, set[int]] = defaultdict(set)
        for community in communities:
            for member in await training_rows.members(conn, community.id):
                if gate.identifies(member.platform, community.platform_id, member.platform_id):
                    member_communities[member.id].add(community.id)
        members = [m for m in everyone if member_communities.get(m.id)]
        allowed = {m.id for m in members}
        messages = [
            message
            async for message in training_rows.messages(conn)
            if message.community in member_communities.get(message.member, ())
        ]
        reactions = [r for r in await training_rows.reactions(conn) if r[0] in allowed]
        mentions = {
            key: [t for t in targets if t in allowed]
            for key, targets in (await training_rows.mentions(conn)).items()
        }
        interactions = [i for i in await training_rows.interactions(conn) if i[0] in allowed]
        courses = await list_courses(conn, include_inactive=True)
    canonical = person_keys(members)
    if canonical:
        members = [m for m in members if m.id not in canonical]
        for member_id, into in canonical.items():
            member_communities[into] |= member_communities.pop(member_id, set())
        messages = [
            replace(m, member=canonical[m.member]) if m.member in canonical else m for m in messages
        ]
        reactions = [(canonical.get(r[0], r[0]), *r[1:]) for r in reactions]
        mentions = {
            key: sorted({canonical.get(t, t) for t in targets}) for key, targets in mentions.items()
        }
        interactions = [(canonical.get(i[0], i[0]), *i[1:]) for i in interactions]
        log.info("training merges %d linked identities into their persons", len(canonical))
    dropped = len(everyone) - len(members)
    if dropped:
        log.info("training leaves out %d members without profiling consent", dropped)
    log.info(
        "training inputs: %d members, %d messages, %d reactions, %d interactions, %d courses",
        len(members),
        len(messages),
        len(reactions),
        len(interactions),
        len(courses),
    )
    return TrainingInputs(
        now=now,
        communities=communities,
        members=members,
        messages=messages,
        reactions=reactions,
        mentions=mentions,
        interactions=interactions,
        courses=courses,
        member_communities=dict(member_communities),
    )
