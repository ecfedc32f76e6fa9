"""Gather what a report shows from the store, the services and the trained model.

Numbers come from where Cohort already computes them: member and consent totals
from `bot.store.stats`, the funnel and its intervals from `FunnelService`, segments
and influence from the trained model's facade, trending topics with the digest's
`trending_terms`; the rest (activity per hour, the graph's edges, picks per course,
delivery outcomes) from `bot.store.report`.

Consent: the graph shows the top members of the influence model (trained only on
members who consented then); a member is named only if the consent gate still
identifies them in the community now, otherwise they are a number.

Large communities are sampled, not drawn whole: the graph keeps the top
`GRAPH_NODES` members, topics read at most `SAMPLED_TEXTS` recent messages (plus the
anonymous term counts), and activity is grouped in the database.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.delivery.policy import zone
from bot.core.services.context import ServiceContext
from bot.core.services.funnel import FunnelService
from bot.core.services.identities import identified_names
from bot.i18n import Translator, normalize_locale, segment_name, translator
from bot.i18n import segment_description as describe_segment
from bot.report.data import (
    HOURS,
    WEEKDAYS,
    ChannelActivity,
    CommunityReport,
    CourseShown,
    Coverage,
    Deliveries,
    Graph,
    GraphNode,
    ReportData,
    SegmentRow,
    Snapshot,
)
from bot.store import report as r
from bot.store import stats
from bot.store.communities import CommunityInfo, all_communities
from bot.store.texts import community_term_counts, community_texts
from bot.store.writers.counts import week_of
from bot.training.facade import TrainedModel
from bot.training.train import CommunityModels
from recsys.text import tokenize

log = logging.getLogger(__name__)

GRAPH_NODES = 40
SAMPLED_TEXTS = 20_000
TOP_TOPICS = 15
WEEK = timedelta(days=7)
_PENDING = frozenset({"pending", "sending"})


async def gather(
    context: ServiceContext,
    funnel: FunnelService,
    *,
    days: int,
    locale: str | None = None,
    communities: Sequence[CommunityInfo] | None = None,
) -> ReportData:
    """The report of the last `days` days for `communities` (default: every community).

    `locale` is the report's language; without it, the first community's locale
    (English when it has none).
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    now = context.clock()
    since = now - timedelta(days=days)
    async with context.store.read() as conn:
        chosen = list(communities) if communities is not None else await all_communities(conn)
    if locale is None:
        locale = next((c.locale for c in chosen if c.locale), None)
    t = translator(normalize_locale(locale))
    model = await context.models.current()
    reports = [
        await community_report(context, funnel, community, since, now, t, model)
        for community in chosen
    ]
    return ReportData(
        generated=now,
        since=since,
        days=days,
        locale=t.locale,
        model_version=model.version if model else None,
        communities=tuple(reports),
    )


async def community_report(
    context: ServiceContext,
    funnel: FunnelService,
    community: CommunityInfo,
    since: datetime,
    now: datetime,
    t: Translator,
    model: TrainedModel | None,
) -> CommunityReport:
    """One community's section of the report."""
    models = model.community(community.ref) if model else None
    async with context.store.read() as conn:
        totals = next(
            (
                row
                for row in await stats.community_counts(conn)
                if (row["platform"], row["platform_id"])
                == (community.platform, community.platform_id)
            ),
            {},
        )
        days, channels, heatmap = await activity(conn, community, since, now)
        topics = await top_topics(conn, community.id, since, now)
        trending = await trending_topics(conn, community.id, now)
        graph = await interaction_graph(context, conn, community, models, t)
        coverage = await picks_coverage(conn, community.id, since)
        deliveries = await delivery_outcomes(conn, community.id, since)
    report = await funnel.report(since, community.ref, attribute=False)
    return CommunityReport(
        ref=community.ref,
        name=community.name or community.platform_id,
        timezone=community.timezone,
        members=int(totals.get("members", 0)),
        profiled=int(totals.get("profiling_consents", 0)),
        dm=int(totals.get("dm_consents", 0)),
        days=days,
        channels=channels,
        heatmap=heatmap,
        segments=segment_rows(models, t),
        graph=graph,
        topics=topics,
        trending=trending,
        funnel=report,
        coverage=coverage,
        deliveries=deliveries,
    )


async def snapshot(
    context: ServiceContext, community: CommunityInfo, since: datetime, now: datetime
) -> Snapshot:
    """Messages per day and the top topics of a community since `since` (for `/insights`)."""
    async with context.store.read() as conn:
        days, channels, _ = await activity(conn, community, since, now)
        topics = await top_topics(conn, community.id, since, now)
    totals = tuple(sum(channel.counts[i] for channel in channels) for i in range(len(days)))
    return Snapshot(days, totals, topics)


async def activity(
    conn: AsyncConnection, community: CommunityInfo, since: datetime, now: datetime
) -> tuple[tuple[date, ...], tuple[ChannelActivity, ...], tuple[tuple[int, ...], ...]]:
    """Days of the period, messages per channel and day, and stored messages per weekday × hour.

    Days and hours are the community's local time. Anonymous counts have a day but
    no hour, so the heatmap counts stored messages only.
    """
    local = zone(community.timezone, "UTC")
    first = since.astimezone(local).date()
    days = tuple(
        first + timedelta(days=i) for i in range((now.astimezone(local).date() - first).days + 1)
    )
    index = {day: i for i, day in enumerate(days)}
    names = await r.channel_names(conn, community.id)
    per_channel: dict[int, list[int]] = {}
    grid = [[0] * HOURS for _ in range(WEEKDAYS)]
    for channel, hour, count in await r.hourly_messages(conn, community.id, since):
        moment = hour.astimezone(local)
        position = index.get(moment.date())
        if position is not None:
            per_channel.setdefault(channel, [0] * len(days))[position] += count
        grid[moment.weekday()][moment.hour] += count
    for channel, day, count in await r.daily_anonymous(conn, community.id, first):
        position = index.get(day)
        if position is not None:
            per_channel.setdefault(channel, [0] * len(days))[position] += count
    channels = sorted(
        (
            ChannelActivity(names.get(channel, str(channel)), tuple(counts))
            for channel, counts in per_channel.items()
        ),
        key=lambda channel: (-channel.total, channel.name),
    )
    return days, tuple(channels), tuple(tuple(row) for row in grid)


async def top_topics(
    conn: AsyncConnection, community_id: int, since: datetime, now: datetime
) -> tuple[tuple[str, int], ...]:
    """The most used terms of the period: sampled stored text plus anonymous term counts."""
    counts = Counter(
        term
        for text in await community_texts(conn, community_id, since, now, SAMPLED_TEXTS)
        for term in tokenize(text)
    )
    counts.update(
        await community_term_counts(conn, community_id, week_of(since.date()), onwards=True)
    )
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(ranked[:TOP_TOPICS])


async def trending_topics(
    conn: AsyncConnection, community_id: int, now: datetime
) -> tuple[str, ...]:
    """Terms talked about more in the last 7 days than in the 7 before (as in the digest)."""
    # Imported here: the digest imports `/insights`, which draws its chart with this module.
    from bot.core.services.digest import trending_terms

    async def week(until: datetime) -> Counter[str]:
        texts = await community_texts(conn, community_id, until - WEEK, until, SAMPLED_TEXTS)
        counts = Counter(term for text in texts for term in tokenize(text))
        bucket = week_of((until - timedelta(days=1)).date())
        counts.update(await community_term_counts(conn, community_id, bucket))
        return counts

    return tuple(trending_terms(await week(now), await week(now - WEEK)))


def segment_rows(models: CommunityModels | None, t: Translator) -> tuple[SegmentRow, ...] | None:
    """The community's segments in `t`'s language, largest first (None: not trained)."""
    if models is None or models.segments is None:
        return None
    described = models.segments.describe()
    alone = len(described) == 1
    rows = [
        SegmentRow(
            segment_name(t, segment, alone=alone),
            describe_segment(t, segment),
            segment.size,
        )
        for segment in described
    ]
    return tuple(sorted(rows, key=lambda row: -row.size))


async def interaction_graph(
    context: ServiceContext,
    conn: AsyncConnection,
    community: CommunityInfo,
    models: CommunityModels | None,
    t: Translator,
) -> Graph:
    """The top members by influence, the attention between them, coloured by segment."""
    if models is None or models.influence is None:
        return Graph()
    influence = models.influence
    ranked = influence.top("influence", GRAPH_NODES)
    ids = [int(key) for key, _ in ranked]
    names = await identified_names(context, conn, community, ids)
    assignments = models.segments.assignments() if models.segments is not None else {}
    labels: dict[int, str] = {}
    if models.segments is not None:
        described = models.segments.describe()
        labels = {
            segment.id: segment_name(t, segment, alone=len(described) == 1) for segment in described
        }
    nodes = []
    for rank, (key, score) in enumerate(ranked, 1):
        member_id = int(key)
        group = assignments.get(key, -1)
        nodes.append(
            GraphNode(
                label=names.get(member_id) or t("Member {n}", n=rank),
                named=member_id in names,
                influence=score,
                group=group,
                group_label=labels.get(group, t("No segment")),
            )
        )
    position = {member_id: i for i, member_id in enumerate(ids)}
    edges = await r.interaction_edges(conn, community.id, ids)
    return Graph(
        nodes=tuple(nodes),
        edges=tuple(
            (position[source], position[sink], count)
            for (source, sink), count in sorted(edges.items())
        ),
        total=len(influence.top("influence", 10**9)),
    )


async def picks_coverage(conn: AsyncConnection, community_id: int, since: datetime) -> Coverage:
    """How often each active course was shown as a pick in the period."""
    titles = await r.active_course_titles(conn)
    shown = await r.impressions_by_course(conn, community_id, since)
    rows = [CourseShown(titles.get(course, course), count) for course, count in shown.items()]
    rows += [CourseShown(title, 0) for course, title in titles.items() if course not in shown]
    rows.sort(key=lambda row: (-row.impressions, row.title))
    return Coverage(tuple(rows), len(titles))


async def delivery_outcomes(
    conn: AsyncConnection, community_id: int, since: datetime
) -> Deliveries:
    """Outbox deliveries queued in the period by outcome (`sending` counts as pending)."""
    counts: dict[str, int] = {}
    for status, count in (await r.delivery_counts(conn, community_id, since)).items():
        key = "pending" if status in _PENDING else status
        counts[key] = counts.get(key, 0) + count
    return Deliveries(counts)
