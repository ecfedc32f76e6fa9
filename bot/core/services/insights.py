"""`/insights` for moderators: the community at a glance, as text and one chart.

Members and consent, the last week's activity, segments, the top helpers (only
members who consent, by display name) and the last 30 days' recommendation funnel,
plus a chart of the last four weeks' messages per day and top topics, and a
*Full report* button (`rp:`) that answers with the HTML report of `cohort report`
as an attachment. Charts are drawn in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from bot.core.services.context import ServiceContext
from bot.core.services.funnel import FunnelService
from bot.core.services.identities import identified_names
from bot.domain.actors import Actor
from bot.domain.replies import Button, File, Image, Items, Paragraph, Reply, Style, Text
from bot.i18n import segment_description, segment_name
from bot.store import attribution as a
from bot.store import outbox, stats
from bot.store.communities import CommunityInfo, find_community

log = logging.getLogger(__name__)

WEEK = timedelta(days=7)
FUNNEL_WINDOW = timedelta(days=30)
CHART_WINDOW = timedelta(days=28)
REPORT_DAYS = 30
REPORT_ACTION = "rp:"


async def top_helpers(context: ServiceContext, community: CommunityInfo, n: int = 3) -> list[str]:
    """Display names of the community's top helpers who still consent there.

    The model only knows members who consented when it was trained; consent is
    checked again now, so a member who objected since is never named. A linked
    person is named by their identity on the community's platform.
    """
    model = await context.models.current()
    models = model.community(community.ref) if model else None
    if models is None or models.influence is None:
        return []
    ranked = [int(key) for key, _ in models.influence.top("helpers", 10 * n)]
    async with context.store.read() as conn:
        names = await identified_names(context, conn, community, ranked)
    return [names[member_id] for member_id in ranked if member_id in names][:n]


class InsightsService:
    """A moderator's summary of their community."""

    def __init__(self, context: ServiceContext, funnel: FunnelService) -> None:
        self.context = context
        self.funnel = funnel

    async def summary(self, actor: Actor) -> Reply:
        """The community's numbers, privately, for moderators only."""
        denied = await self.context.moderator_denial(actor, "insights", "")
        if denied is not None:
            return denied
        t = self.context.t(actor)
        now = self.context.clock()
        async with self.context.store.read() as conn:
            community = await find_community(conn, actor.platform, actor.community or "")
            if community is None:
                return Reply(
                    (Paragraph.of(t("Cohort has seen no activity here yet.")),), private=True
                )
            totals = next(
                (
                    row
                    for row in await stats.community_counts(conn)
                    if (row["platform"], row["platform_id"])
                    == (community.platform, community.platform_id)
                ),
                {},
            )
            week = await stats.recent_activity(conn, community.id, now - WEEK)
            funnel = await a.funnel_counts(conn, now - FUNNEL_WINDOW, community.id)
            uncertain = await outbox.uncertain_count(conn, community.id)
        blocks: list[Paragraph | Items] = [
            Paragraph.of(
                t(
                    "{members} members, {profiled} opted in to recommendations, "
                    "{dm} to direct messages.",
                    members=totals.get("members", 0),
                    profiled=totals.get("profiling_consents", 0),
                    dm=totals.get("dm_consents", 0),
                )
            ),
            Paragraph.of(
                t(
                    "Last 7 days: {messages} messages, {joins} joined, {leaves} left.",
                    messages=week["messages"],
                    joins=week["joins"],
                    leaves=week["leaves"],
                )
            ),
        ]
        model = await self.context.models.current()
        models = model.community(community.ref) if model else None
        if models is not None and models.segments is not None:
            blocks.append(Paragraph.of(Text(t("Segments"), Style.BOLD)))
            blocks.append(
                Items(
                    tuple(
                        Paragraph.of(
                            Text(segment_name(t, segment), Style.BOLD),
                            f" ({segment.size}) — ",
                            segment_description(t, segment),
                        )
                        for segment in models.segments.describe()
                    )
                )
            )
        helpers = await top_helpers(self.context, community)
        if helpers:
            blocks.append(Paragraph.of(Text(t("Top helpers"), Style.BOLD), " ", ", ".join(helpers)))
        shown = sum(row.impressions for row in funnel)
        if shown:
            clicked = sum(row.clicked for row in funnel)
            bought = sum(row.purchases for row in funnel if row.variant != a.ORGANIC)
            blocks.append(
                Paragraph.of(
                    t(
                        "Last 30 days: {shown} picks shown, {clicked} clicked, "
                        "{bought} purchases after a pick.",
                        shown=shown,
                        clicked=clicked,
                        bought=bought,
                    )
                )
            )
        if uncertain:
            blocks.append(
                Paragraph.of(
                    t(
                        "{count} messages may or may not have arrived (the platform did not "
                        "confirm); Cohort does not resend them.",
                        count=uncertain,
                    )
                )
            )
        if model is None:
            blocks.append(Paragraph.of(t("No model trained yet: run `cohort train`.")))
        title = t("Insights: {community}", community=community.name or community.platform_id)
        return Reply(
            tuple(blocks),
            title=title,
            private=True,
            image=await self._chart(actor, community),
            buttons=((Button(t("Full report"), action=REPORT_ACTION),),),
        )

    async def _chart(self, actor: Actor, community: CommunityInfo) -> Image | None:
        """The last four weeks' messages per day and top topics (None: nothing to draw)."""
        from bot.report import charts
        from bot.report.gather import snapshot

        t = self.context.t(actor)
        now = self.context.clock()
        try:
            data = await snapshot(self.context, community, now - CHART_WINDOW, now)
            png = await asyncio.to_thread(charts.insights, data, t)
        except Exception:
            log.exception("the /insights chart failed; answering with text only")
            return None
        if png is None:
            return None
        return Image(
            png,
            "insights.png",
            t("Messages per day and top topics of the last four weeks"),
        )

    async def full_report(self, actor: Actor) -> Reply:
        """The community's HTML report of the last 30 days, as an attachment (moderators)."""
        denied = await self.context.moderator_denial(actor, "insights report", "")
        if denied is not None:
            return denied
        from bot.report.build import build_report

        t = self.context.t(actor)
        async with self.context.store.read() as conn:
            community = await find_community(conn, actor.platform, actor.community or "")
        if community is None:
            return Reply((Paragraph.of(t("Cohort has seen no activity here yet.")),), private=True)
        html = await build_report(
            self.context,
            self.funnel,
            days=REPORT_DAYS,
            locale=self.context.t(actor).locale,
            communities=[community],
        )
        return Reply(
            (
                Paragraph.of(
                    t(
                        "The report of the last {days} days: open the file in a browser.",
                        days=REPORT_DAYS,
                    )
                ),
            ),
            private=True,
            file=File(html.encode("utf-8"), "cohort-report.html", "text/html"),
        )
