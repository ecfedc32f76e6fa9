"""What every service needs, built once from the `Cohort` composition root."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.app import Cohort
from bot.core.actors import Actor
from bot.core.events import Event
from bot.core.permissions import PermissionDenied, require_moderator
from bot.core.replies import Paragraph, Reply
from bot.i18n import Translator, normalize_locale, translator
from bot.store import engagement as q
from bot.store.store import Store
from bot.store.writer import WriteResult
from bot.training.models import Models

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass
class ServiceContext:
    """Cohort's long-lived objects plus a clock (tests pass a fixed one)."""

    cohort: Cohort
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
                    await q.community(conn, actor.platform, actor.community)
                    if actor.community
                    else None
                )
                member = await q.member(conn, actor.platform, actor.member)
                await q.audit(
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
