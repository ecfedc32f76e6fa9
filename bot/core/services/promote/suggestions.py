"""`/promote` suggestions while a moderator types: courses, and the community's audiences.

Only moderators of the community get any, and nothing is audited: this runs on
every keystroke.
"""

from __future__ import annotations

from bot.core.services.context import ServiceContext
from bot.core.services.promote.audiences import RULES
from bot.domain.actors import Actor
from bot.domain.permissions import is_moderator
from bot.domain.replies import Suggestion
from bot.i18n import rule_segment_name, segment_name
from bot.store.channels import community_channels
from bot.store.communities import find_community
from bot.store.courses import course_rows

MAX_SUGGESTIONS = 25  # Discord shows at most 25 autocomplete choices
TOP_SIZES = (10, 50, 100)


class PromoteSuggestions:
    """Values of `/promote`'s options that match what has been typed."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    async def suggest(self, actor: Actor, option: str, typed: str) -> list[Suggestion]:
        """Values of `/promote`'s `option` that match what a moderator has typed so far.

        Courses by id or title; audiences: opted-in, top:N, the community's channels
        and the trained segments.
        """
        roles = self.context.cohort.settings.discord.moderator_roles
        if actor.community is None or not is_moderator(actor, roles):
            return []
        needle = typed.strip().casefold()
        if option == "course":
            candidates = await self._courses()
        elif option == "audience":
            candidates = await self._audiences(actor, needle)
        else:
            return []
        return [
            c for c in candidates if needle in c.label.casefold() or needle in c.value.casefold()
        ][:MAX_SUGGESTIONS]

    async def _courses(self) -> list[Suggestion]:
        async with self.context.store.read() as conn:
            rows = await course_rows(conn)
        return [Suggestion(_clip(f"{row['title']} ({row['id']})"), row["id"]) for row in rows]

    async def _audiences(self, actor: Actor, needle: str) -> list[Suggestion]:
        assert actor.community is not None
        t = self.context.t(actor)
        async with self.context.store.read() as conn:
            community = await find_community(conn, actor.platform, actor.community)
            channels = await community_channels(conn, community.id) if community else []
        sizes = list(TOP_SIZES)
        typed_top = needle.removeprefix("top:")
        if needle.startswith("top:") and typed_top.isdigit() and 1 <= int(typed_top) <= 100_000:
            sizes = [int(typed_top)]
        out = [Suggestion(t("Everyone who opted in to messages"), "opted-in")]
        out += [
            Suggestion(t("Top {n} members by predicted interest", n=n), f"top:{n}") for n in sizes
        ]
        out += [
            Suggestion(_clip(f"#{name or channel}"), f"channel:{channel}")
            for channel, name in channels
            if len(channel) <= 92
        ]
        model = await self.context.models.current()
        models = model.community(community.ref) if model and community else None
        if models is not None:
            if models.segments is not None:
                out += [
                    Suggestion(
                        _clip(
                            t(
                                "Segment: {name} ({n} members)",
                                name=segment_name(t, seg),
                                n=seg.size,
                            )
                        ),
                        f"segment:{seg.id}",
                    )
                    for seg in models.segments.describe()
                ]
            out += [
                Suggestion(t("Segment: {name}", name=rule_segment_name(t, rule)), f"segment:{rule}")
                for rule in RULES
            ]
        return out


def _clip(label: str, limit: int = 100) -> str:
    """`label` cut to `limit` characters with an ellipsis (Discord's choice name limit)."""
    return label if len(label) <= limit else label[: limit - 1] + "…"
