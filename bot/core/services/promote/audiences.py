"""Who a promotion reaches: the member ids behind `segment:`, `top:N` and `opted-in`.

Segments and scores come from the last training; whoever left the community or
withdrew consent to profiling since is no longer targeted by them. `top:N` ranks
only members who opted in to DMs: N means N messages, not N verdicts.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.services.context import ServiceContext
from bot.core.services.promote.plan import Audience, PromotionError
from bot.i18n import SUPPORTED_LOCALES, SegmentText, segment_name, translator
from bot.store.audiences import dm_audience, still_members
from bot.store.communities import CommunityInfo
from bot.store.members import members_by_ids

log = logging.getLogger(__name__)

RULES = ("newcomers", "recently_inactive", "champions")


class AudienceFinder:
    """Turns an audience (other than a channel) into member row ids, in target order."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def member_ids(
        self, conn: AsyncConnection, community: CommunityInfo, course: str, audience: Audience
    ) -> list[int]:
        """The members `audience` names in `community`, for a promotion of `course`."""
        if audience.kind == "opted-in":
            return await dm_audience(conn, community.id)
        model = await self.context.models.current()
        models = model.community(community.ref) if model else None
        if audience.kind == "segment":
            if models is None:
                raise PromotionError("segments need a trained model: run `cohort train`")
            value = audience.value or ""
            if value in RULES:
                return await self.profiled(
                    conn, community, [int(m) for m in models.rules.get(value, [])]
                )
            segments = models.segments.describe() if models.segments else []
            match = [s.id for s in segments if str(s.id) == value or _names(s, value)]
            if not match or models.segments is None:
                t = self.context.t(locale=community.locale)
                known = ", ".join([*(f"{s.id} ({segment_name(t, s)})" for s in segments), *RULES])
                raise PromotionError(f"unknown segment {value!r} (known: {known})")
            return await self.profiled(
                conn,
                community,
                sorted(
                    int(m) for m, seg in models.segments.assignments().items() if seg == match[0]
                ),
            )
        # top:N by predicted interest, among members the model knows in this community
        if model is None:
            raise PromotionError("top:N needs a trained model: run `cohort train`")
        if not model.knows_course(course):
            raise PromotionError(f"course {course!r} is newer than the model: run `cohort train`")
        # Only members who opted in to DMs here: top:N means N messages, not N verdicts.
        in_community = await self.profiled(conn, community, await dm_audience(conn, community.id))
        top = int(audience.value or "0")
        # Scoring every member of a large community is seconds of work: not on the loop.
        ranked = await asyncio.to_thread(
            model.top_members, course, top, among={str(i) for i in in_community}
        )
        return [int(key) for key in ranked]

    async def profiled(
        self, conn: AsyncConnection, community: CommunityInfo, ids: list[int]
    ) -> list[int]:
        """The members among `ids` still in the community who still consent to profiling."""
        current = await still_members(conn, community.id, ids)
        members = await members_by_ids(conn, current)
        gate = self.context.cohort.gate
        return [
            member_id
            for member_id in ids
            if (member := members.get(member_id)) is not None
            and gate.identifies(member.platform, community.platform_id, member.platform_id)
        ]


def _names(segment: SegmentText, value: str) -> bool:
    """Whether `value` is the segment's name in any supported language (any case).

    Moderators see names in their own language and the CLI in the community's, so
    `segment:<name>` accepts each of them, and the stored English name.
    """
    wanted = value.strip().casefold()
    return any(
        segment_name(translator(locale), segment).casefold() == wanted
        for locale in SUPPORTED_LOCALES
    )
