"""`/link` and `/unlink`: one person on Discord and Telegram.

`/link` on one platform shows a one-time code (valid `CODE_TTL`); `/link CODE` on
the other platform proves both accounts belong to the same person. From then on
caps, ownership, consent changes and the models treat them as one person; `/unlink`
undoes it. Only a hash of the code is stored; a code works once, only from another
platform, and a member gets `MAX_ATTEMPTS` wrong tries per `CODE_TTL`.
Both accounts must have opted in somewhere (linking is itself profiling).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import defaultdict
from datetime import datetime, timedelta

from bot.core.services.context import ServiceContext
from bot.domain.actors import Actor
from bot.domain.replies import Paragraph, Reply, Style, Text
from bot.store import links as store
from bot.store.audit import write_audit
from bot.store.members import find_member, members_by_ids

log = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=10)
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8
MAX_ATTEMPTS = 5
PLATFORM_NAMES = {"discord": "Discord", "telegram": "Telegram"}


def new_code() -> str:
    """A random code, shown as `ABCD-EFGH`."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def code_hash(code: str) -> str:
    """The stored form of a code (case, spaces and dashes do not matter)."""
    normalized = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(f"cohort-link|{normalized}".encode()).hexdigest()


class LinkService:
    """Issues and redeems link codes; unlinks."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context
        self._failures: defaultdict[tuple[str, str], list[datetime]] = defaultdict(list)

    async def link(self, actor: Actor, code: str | None) -> Reply:
        """Without a code: issue one. With a code: link this account to its issuer."""
        if code:
            return await self._redeem(actor, code)
        return await self._issue(actor)

    async def _issue(self, actor: Actor) -> Reply:
        t = self.context.t(actor)
        now = self.context.clock()
        async with self.context.store.write() as conn:
            member = await find_member(conn, actor.platform, actor.member)
            if member is None or not self._consented(actor):
                return _private(t("Opt in first (/optin), then link your accounts."))
            code = new_code()
            await store.save_code(conn, member.id, code_hash(code), now + CODE_TTL, now)
        other = "Telegram" if actor.platform == "discord" else "Discord"
        return Reply(
            (
                Paragraph.of(t("Your link code:"), " ", Text(code, Style.CODE)),
                Paragraph.of(
                    t(
                        "Within 10 minutes, send /link {code} to Cohort on {platform}.",
                        code=code,
                        platform=other,
                    )
                ),
            ),
            private=True,
        )

    async def _redeem(self, actor: Actor, code: str) -> Reply:
        t = self.context.t(actor)
        now = self.context.clock()
        key = (actor.platform, actor.member)
        recent = [when for when in self._failures[key] if now - when < CODE_TTL]
        self._failures[key] = recent
        if len(recent) >= MAX_ATTEMPTS:
            return _private(t("Too many wrong codes: wait a few minutes and try again."))
        async with self.context.store.write() as conn:
            member = await find_member(conn, actor.platform, actor.member)
            if member is None or not self._consented(actor):
                return _private(t("Opt in first (/optin), then link your accounts."))
            issuer_id = await store.take_code(conn, code_hash(code), now)
            issuer = (
                (await members_by_ids(conn, [issuer_id])).get(issuer_id)
                if issuer_id is not None
                else None
            )
            if issuer is None:
                self._failures[key].append(now)
                return _private(t("That code is wrong or has expired: run /link again."))
            if issuer.platform == member.platform:
                return _private(t("Enter the code on your other platform, not this one."))
            if not self.context.cohort.gate.identifies_anywhere(
                issuer.platform, issuer.platform_id
            ):
                # The issuer withdrew consent since showing the code: linking is profiling.
                return _private(t("Opt in first (/optin), then link your accounts."))
            await store.link(conn, issuer.id, member.id, now)
            await write_audit(
                conn,
                ts=now,
                action="link",
                outcome="ok",
                actor_member_id=member.id,
                details={"platforms": sorted({issuer.platform, member.platform})},
            )
        self._failures.pop(key, None)
        log.info("linked a %s and a %s identity", issuer.platform, member.platform)
        return _private(
            t(
                "Linked: your {first} and {second} accounts are now one person for Cohort.",
                first=PLATFORM_NAMES.get(issuer.platform, issuer.platform),
                second=PLATFORM_NAMES.get(member.platform, member.platform),
            )
        )

    async def unlink(self, actor: Actor) -> Reply:
        """Take this account out of its person."""
        t = self.context.t(actor)
        async with self.context.store.write() as conn:
            member = await find_member(conn, actor.platform, actor.member)
            changed = await store.unlink(conn, member.id) if member else 0
            if changed and member is not None:
                await write_audit(
                    conn,
                    ts=self.context.clock(),
                    action="unlink",
                    outcome="ok",
                    actor_member_id=member.id,
                    details={},
                )
        if not changed:
            return _private(t("This account is not linked to another one."))
        return _private(t("Unlinked: this account is on its own again."))

    def _consented(self, actor: Actor) -> bool:
        gate = self.context.cohort.gate
        if actor.community is not None:
            return gate.identifies(actor.platform, actor.community, actor.member)
        return gate.identifies_anywhere(actor.platform, actor.member)


def _private(text: str) -> Reply:
    return Reply((Paragraph.of(text),), private=True)
