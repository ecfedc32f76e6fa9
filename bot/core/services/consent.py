"""Opting in and out: two flags per member and community, profiling and direct messages.

A decision is written at once (not batched) so it governs the very next message.
It applies to the person: linked identities on other platforms get the same
decision in every community they belong to. Opting out is an objection: nothing new
is stored under the member's identity; what is held already stays until `forgetme`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core.services.context import ServiceContext
from bot.domain.actors import Actor
from bot.domain.events import ConsentChanged, Event
from bot.domain.replies import Button, ButtonStyle, Paragraph, Reply
from bot.store.communities import all_communities, find_community
from bot.store.members import find_member, memberships_of, person_members

log = logging.getLogger(__name__)


class UnknownCommunity(LookupError):
    """Consent was asked for a community Cohort has never seen."""


@dataclass(frozen=True, slots=True)
class ConsentStatus:
    """A member's decisions in one community (None: never asked)."""

    profiling: bool | None
    dm: bool | None


def optin_button(label: str, community: str) -> Button:
    """The button that opts the presser in (profiling and DMs) in a community."""
    return Button(label, action=f"optin:{community}", style=ButtonStyle.PRIMARY)


class ConsentService:
    """Opt in, opt out, and what the member decided."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    def status(self, actor: Actor, community: str | None = None) -> ConsentStatus:
        """The actor's decisions in a community (from the gate: no I/O)."""
        where = community or actor.community
        if where is None:
            return ConsentStatus(None, None)
        consent = self.context.cohort.gate.consent(actor.platform, where, actor.member)
        return ConsentStatus(consent.profiling, consent.dm)

    async def _events(
        self, actor: Actor, community: str, profiling: bool | None, dm: bool | None
    ) -> list[Event]:
        """The decision for the actor, and for every linked identity's memberships."""
        now = self.context.clock()
        events: list[Event] = [
            ConsentChanged(
                platform=actor.platform,
                community=community,
                member=actor.member,
                member_name=actor.name,
                profiling=profiling,
                dm=dm,
                ts=now,
            )
        ]
        async with self.context.store.read() as conn:
            own = await find_member(conn, actor.platform, actor.member)
            if own is None or own.person_id is None:
                return events
            identities = await person_members(conn, own.id)
            memberships = await memberships_of(conn, [m.id for m in identities])
            communities = {c.id: c for c in await all_communities(conn)}
        by_id = {m.id: m for m in identities}
        for member_id, community_id in memberships:
            identity = by_id[member_id]
            where = communities[community_id]
            if (identity.platform, identity.platform_id, where.platform_id) == (
                actor.platform,
                actor.member,
                community,
            ):
                continue
            events.append(
                ConsentChanged(
                    platform=identity.platform,
                    community=where.platform_id,
                    member=identity.platform_id,
                    profiling=profiling,
                    dm=dm,
                    ts=now,
                )
            )
        return events

    async def _known_community(self, actor: Actor, community: str) -> None:
        async with self.context.store.read() as conn:
            if await find_community(conn, actor.platform, community) is None:
                raise UnknownCommunity(community)

    async def opt_in(
        self, actor: Actor, community: str | None = None, *, profiling: bool = True, dm: bool = True
    ) -> Reply:
        """Grant profiling (and DMs) in the actor's community or the named one."""
        t = self.context.t(actor)
        where = community or actor.community
        if where is None:
            return Reply((Paragraph.of(t("Use this command inside the community.")),), private=True)
        if community is not None:
            await self._known_community(actor, community)
        await self.context.write(await self._events(actor, where, profiling, dm))
        log.info("consent granted by %s in %s", actor.ref, where)
        lines = [
            Paragraph.of(t("You're in: Cohort will use your activity here to recommend courses."))
        ]
        if dm:
            lines.append(Paragraph.of(t("Direct messages from Cohort are on.")))
        return Reply(tuple(lines), private=True)

    async def opt_out(
        self, actor: Actor, community: str | None = None, *, profiling: bool = True, dm: bool = True
    ) -> Reply:
        """Object to profiling (and DMs); applies to every linked identity."""
        t = self.context.t(actor)
        where = community or actor.community
        if where is None:
            return Reply((Paragraph.of(t("Use this command inside the community.")),), private=True)
        await self.context.write(
            await self._events(actor, where, False if profiling else None, False if dm else None)
        )
        log.info("consent withdrawn by %s in %s", actor.ref, where)
        lines = []
        if profiling:
            lines.append(
                Paragraph.of(
                    t(
                        "You're out: Cohort no longer profiles you here. "
                        "Nothing new is stored under your name."
                    )
                )
            )
        if dm:
            lines.append(Paragraph.of(t("Direct messages from Cohort are off.")))
        return Reply(tuple(lines), private=True)
