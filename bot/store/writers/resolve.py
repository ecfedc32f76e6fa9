"""Row ids for everything an admitted batch names: communities, channels, members.

Every community and channel an event names gets a row (anonymous counts hang on
them too); members get a row only where the admission stores something under
their identity, and a membership in the community they were seen in.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.admission import Admission
from bot.domain.events import Event, MemberJoined
from bot.store.ids import MembershipKey
from bot.store.writers.context import WriteContext


def resolve_ids(ctx: WriteContext, events: Sequence[Event], admission: Admission) -> None:
    """Create or look up the rows `admission` will refer to (names updated on the way)."""
    _resolve_places(ctx, events)
    _resolve_members(ctx, admission)


def _resolve_places(ctx: WriteContext, events: Sequence[Event]) -> None:
    ids = ctx.ids
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
    ids.resolve_communities(ctx.conn, communities)
    ids.resolve_channels(
        ctx.conn,
        {(ids.community(p, c), ch): name for (p, c, ch), name in wanted_channels.items()},
    )


def _resolve_members(ctx: WriteContext, admission: Admission) -> None:
    ids = ctx.ids
    members: dict[tuple[str, str], str | None] = {}
    memberships: set[MembershipKey] = set()
    cached = ids.members

    def want(platform: str, community: str | None, member: str, name: str | None) -> None:
        key = (platform, member)
        if name or key not in members:
            members[key] = name
        if community is not None:
            memberships.add((platform, community, member))

    for message, mentioned in admission.messages:
        hit = cached.get((message.platform, message.member))
        if hit is None or (message.member_name and hit[1] != message.member_name):
            want(message.platform, message.community, message.member, message.member_name)
        elif not ids.knows_membership(message.platform, message.community, message.member):
            memberships.add((message.platform, message.community, message.member))
        for other in mentioned:
            want(message.platform, message.community, other, None)
    for reaction in admission.reactions.values():
        want(reaction.platform, reaction.community, reaction.member, None)
    for consent in admission.consents:
        want(consent.platform, consent.community, consent.member, consent.member_name)
    for snapshot, known in admission.snapshots:
        for reactor in known:
            want(snapshot.platform, snapshot.community, reactor, None)
    for change, identified in admission.memberships:
        if identified:
            name = change.member_name if isinstance(change, MemberJoined) else None
            want(change.platform, change.community, change.member, name)
    for button, identified in admission.buttons:
        if identified:
            want(button.platform, button.community, button.member, None)
    for purchase, identified in admission.purchases:
        if identified:
            want(purchase.platform, purchase.community, purchase.member, None)
    ids.resolve_members(ctx.conn, members)
    ids.ensure_memberships(ctx.conn, memberships)
