"""What every service needs, handed over by the composition root (`bot.app.Cohort`).

Services never import the composition root: they declare what they use (`Runtime`)
and `bot.app.Cohort` provides it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from bot.config import Settings
from bot.core.pipeline import IngestPipeline
from bot.domain.actors import Actor
from bot.domain.consent import ConsentGate
from bot.domain.events import Event
from bot.domain.permissions import PermissionDenied, require_moderator
from bot.domain.replies import Paragraph, Reply
from bot.i18n import Translator, normalize_locale, translator
from bot.store.audit import write_audit
from bot.store.communities import find_community
from bot.store.members import find_member
from bot.store.store import Store
from bot.store.writer import EventWriter
from bot.store.writers.results import WriteResult
from bot.training.models import Models

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class Runtime(Protocol):
    """The long-lived objects services use; `bot.app.Cohort` provides them."""

    @property
    def settings(self) -> Settings:
        """The operator's settings."""
        ...

    @property
    def store(self) -> Store:
        """The store."""
        ...

    @property
    def gate(self) -> ConsentGate:
        """The consent gate of this process."""
        ...

    @property
    def writer(self) -> EventWriter:
        """The one writer of events."""
        ...

    @property
    def pipeline(self) -> IngestPipeline:
        """The batched ingest pipeline."""
        ...

    async def reload_consent(self) -> int:
        """Reload the consent gate from the store."""
        ...


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class ServiceContext:
    """Cohort's long-lived objects plus a clock (tests pass a fixed one)."""

    cohort: Runtime
    models: Models
    clock: Clock = field(default=utc_now)

    @property
    def store(self) -> Store:
        """The store."""
        return self.cohort.store

    async def write(self, events: list[Event]) -> WriteResult:
        """Write events now, through the writer (not the batched pipeline).

        For decisions that must take effect before the next message arrives (consent).
        They run on the same writer thread as the pipeline's batches, so order holds.
        """
        writer = self.cohort.writer
        try:
            result = await self.store.run_write(lambda conn: writer.write(conn, events))
        except BaseException:
            writer.rolled_back()
            raise
        writer.committed()
        return result

    async def moderator_denial(self, actor: Actor, action: str, target: str) -> Reply | None:
        """None if the actor moderates their community; else the refusal, audited."""
        try:
            require_moderator(actor, self.cohort.settings.discord.moderator_roles, action)
        except PermissionDenied as denial:
            async with self.store.write() as conn:
                community = (
                    await find_community(conn, actor.platform, actor.community)
                    if actor.community
                    else None
                )
                member = await find_member(conn, actor.platform, actor.member)
                await write_audit(
                    conn,
                    ts=self.clock(),
                    action=action,
                    outcome="denied",
                    community_id=community.id if community else None,
                    actor_member_id=member.id if member else None,
                    target=target,
                    details={"reason": denial.reason, "by": self.pseudonym(actor)},
                )
            log.warning("%s denied to a %s member: %s", action, actor.platform, denial.reason)
            t = self.t(actor)
            text = (
                t("Use this command inside the community.")
                if actor.community is None
                else t("Only moderators and admins can do this.")
            )
            return Reply((Paragraph.of(text),), private=True)
        return None

    def pseudonym(self, actor: Actor) -> str:
        """A stable keyed hash of the actor's identity (for audit details, drafts)."""
        return self.cohort.writer.pseudonym(actor.platform, actor.member)

    def t(self, actor: Actor | None = None, locale: str | None = None) -> Translator:
        """The translator for an actor (their locale) or an explicit locale."""
        chosen = locale if locale is not None else (actor.locale if actor else None)
        return translator(normalize_locale(chosen))
