"""What a button press means: "Interested", "Not for me", opt in, paging, confirm.

Actions are short strings (`prefix:argument`) that services put on buttons; the
adapters hand any press back here. A press on a pick is recorded through the live
pipeline as a `ButtonPressed` event, so the consent gate decides whether it is
stored under the presser's identity; "Not for me" answers are then left out of
that member's future picks.
"""

from __future__ import annotations

import logging

from bot.core.services.context import ServiceContext
from bot.domain.actors import Actor
from bot.domain.events import ButtonPressed
from bot.domain.replies import Paragraph, Reply
from bot.store.communities import community_by_id
from bot.store.tracking import impression

log = logging.getLogger(__name__)

PICK_ACTIONS = {"in": "interest", "no": "dismiss"}


class FeedbackService:
    """Records reactions to picks."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def pick(self, actor: Actor, prefix: str, token: str, interaction: str | None) -> Reply:
        """Record "Interested" (`in:<token>`) or "Not for me" (`no:<token>`) on a pick."""
        t = self.context.t(actor)
        async with self.context.store.read() as conn:
            shown = await impression(conn, token)
        if shown is None:
            return Reply((Paragraph.of(t("That button has expired.")),), private=True)
        community = actor.community
        if community is None:
            async with self.context.store.read() as conn:
                row = (
                    await community_by_id(conn, shown.community_id) if shown.community_id else None
                )
            community = row.platform_id if row else None
        if community is not None:
            self.context.cohort.pipeline.ingest(
                ButtonPressed(
                    platform=actor.platform,
                    community=community,
                    member=actor.member,
                    action=PICK_ACTIONS[prefix],
                    course=shown.course_id,
                    interaction=interaction,
                    channel=actor.channel,
                    variant=shown.variant,
                    position=shown.position,
                    token=token,
                    ts=self.context.clock(),
                )
            )
        if prefix == "in":
            return Reply((Paragraph.of(t("Thanks! We'll show you more like this.")),), private=True)
        return Reply((Paragraph.of(t("Got it, we won't suggest this again.")),), private=True)
