"""The report as one self-contained HTML page: Jinja2 template, charts embedded as PNG.

The page loads nothing: no script, no stylesheet or font from elsewhere; every chart
is a `data:image/png;base64,` image, so the file opens offline and can be mailed.
Every string the reader sees is translated here (`t(...)`, extracted like the rest
of Cohort's strings) and handed to the template, which only lays it out; Jinja2's
autoescaping keeps member names and channel names inert.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

from bot.core.services.funnel import FunnelRow, Lift
from bot.core.stats import Interval
from bot.i18n import Translator, translator
from bot.report import charts
from bot.report.data import DELIVERY_STATUSES, CommunityReport, ReportData

log = logging.getLogger(__name__)

TEMPLATE = "report.html.j2"
TOP_NAMED = 10


@dataclass(frozen=True, slots=True)
class Chart:
    """An embedded chart: its `src` (a data URL) and alt text."""

    src: str
    alt: str


def data_url(png: bytes) -> str:
    """PNG bytes as a `data:` URL."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _chart(png: bytes | None, alt: str) -> Chart | None:
    return Chart(data_url(png), alt) if png is not None else None


def labels(t: Translator) -> dict[str, str]:
    """The page's fixed strings in `t`'s language."""
    return {
        "activity": t("Activity per channel"),
        "heatmap": t("When members talk"),
        "heatmap_note": t(
            "Messages of members who opted in, by weekday and hour in the community's time zone."
        ),
        "segments": t("Segments"),
        "no_model": t("No model trained yet: run `cohort train`."),
        "influencers": t("Influencers and who talks to whom"),
        "graph_note": t(
            "The most influential members; the larger the dot, the more influence. "
            "Only members who agreed to be profiled are named, the others are numbered."
        ),
        "topics": t("Topics"),
        "trending": t("Trending this week"),
        "funnel": t("Course funnel"),
        "lift": t("Personal picks against the holdout"),
        "coverage": t("Catalog coverage of the picks"),
        "deliveries": t("Delivery outcomes"),
        "no_activity": t("No messages in this period yet."),
        "no_heatmap": t("No messages from members who opted in during this period."),
        "no_graph": t("No interaction graph yet: it appears after `cohort train`."),
        "no_topics": t("No topics yet."),
        "no_funnel": t("No picks shown in this period yet."),
        "no_coverage": t("No picks shown in this period yet."),
        "no_deliveries": t("Nothing was queued for delivery in this period."),
        "no_communities": t("Cohort has no community yet: run the bot or import a history first."),
        "segment": t("Segment"),
        "description": t("Description"),
        "size": t("Members"),
        "variant": t("Variant"),
        "impressions": t("Shown"),
        "clicked": t("Clicked"),
        "purchases": t("Purchases"),
        "conversion": t("Members who bought"),
        "status": t("Outcome"),
        "count": t("Messages"),
        "members": t("Members"),
        "profiled": t("Opted in to recommendations"),
        "dm": t("Opted in to direct messages"),
        "messages": t("Messages in the period"),
        "named": t("Top members who may be named"),
        "nobody_named": t("None of the top members agreed to be named."),
    }


def status_labels(t: Translator) -> dict[str, str]:
    """Delivery statuses in `t`'s language, in display order."""
    names = {
        "sent": t("sent"),
        "unreachable": t("unreachable"),
        "failed": t("failed"),
        "cancelled": t("cancelled"),
        "pending": t("pending"),
    }
    return {status: names[status] for status in DELIVERY_STATUSES}


def _interval(t: Translator, value: Interval | None) -> str:
    if value is None:
        return "–"
    return t(
        "{rate} ({low}–{high})",
        rate=t.percent(value.estimate, 1),
        low=t.percent(value.low, 1),
        high=t.percent(value.high, 1),
    )


def _funnel_row(t: Translator, row: FunnelRow) -> dict[str, str]:
    return {
        "variant": row.variant,
        "impressions": t.number(row.impressions),
        "clicked": f"{t.number(row.clicked)} · {_interval(t, row.click_rate)}",
        "purchases": t.number(row.purchases),
        "conversion": t(
            "{converted} of {exposed} · {rate}",
            converted=t.number(row.converted_members),
            exposed=t.number(row.exposed_members),
            rate=_interval(t, row.member_conversion),
        ),
    }


def _lift(t: Translator, lift: Lift) -> str:
    if lift.difference is None:
        return t(
            "{treatment} against {control}: not enough members in both groups yet.",
            treatment=lift.treatment,
            control=lift.control,
        )
    d = lift.difference
    text = t(
        "{treatment} against {control}: {difference} points of members who bought "
        "(95 % interval {low} to {high}).",
        treatment=lift.treatment,
        control=lift.control,
        difference=t.number(d.estimate * 100, 2),
        low=t.number(d.low * 100, 2),
        high=t.number(d.high * 100, 2),
    )
    if lift.ratio is not None:
        text += " " + t(
            "Ratio {ratio} ({low}–{high}).",
            ratio=t.number(lift.ratio.estimate, 2),
            low=t.number(lift.ratio.low, 2),
            high=t.number(lift.ratio.high, 2),
        )
    return text


def community_context(report: CommunityReport, t: Translator) -> dict[str, Any]:
    """What the template needs for one community: numbers as text, charts as data URLs."""
    statuses = status_labels(t)
    named = [node.label for node in report.graph.nodes if node.named][:TOP_NAMED]
    coverage = report.coverage
    return {
        "title": report.name,
        "ref": report.ref,
        "cards": [
            (t("Members"), t.number(report.members)),
            (t("Opted in to recommendations"), t.number(report.profiled)),
            (t("Opted in to direct messages"), t.number(report.dm)),
            (t("Messages in the period"), t.number(report.messages)),
        ],
        "activity": _chart(charts.activity(report, t), t("Messages per day in each channel")),
        "heatmap": _chart(charts.heatmap(report, t), t("Messages by weekday and hour")),
        "segments": None
        if report.segments is None
        else [
            {"name": row.name, "description": row.description, "size": t.number(row.size)}
            for row in report.segments
        ],
        "segments_chart": _chart(
            charts.segments(report.segments or (), t), t("Members per segment")
        ),
        "graph": _chart(charts.graph(report.graph, t), t("Interaction graph of the top members")),
        "graph_caption": t(
            "The top {shown} of {total} members by influence.",
            shown=t.number(len(report.graph.nodes)),
            total=t.number(report.graph.total),
        )
        if report.graph.nodes
        else "",
        "named": named,
        "topics": _chart(charts.topics(report.topics, t), t("Most used terms")),
        "trending": list(report.trending),
        "funnel": _chart(
            charts.funnel(report.funnel, t), t("Click rate and members who bought, per variant")
        ),
        "funnel_rows": [_funnel_row(t, row) for row in report.funnel.rows],
        "lifts": [_lift(t, lift) for lift in report.funnel.lifts],
        "coverage": _chart(charts.coverage(coverage, t), t("Times each course was shown")),
        "coverage_line": t(
            "{shown} of {catalog} active courses were shown as a pick.",
            shown=t.number(coverage.shown_count),
            catalog=t.number(coverage.catalog_size),
        ),
        "deliveries": _chart(
            charts.deliveries(report.deliveries, statuses, t), t("Deliveries by outcome")
        ),
        "delivery_rows": [
            (statuses.get(status, status), t.number(report.deliveries.counts.get(status, 0)))
            for status in [*statuses, *sorted(set(report.deliveries.counts) - set(statuses))]
        ]
        if report.deliveries.total
        else [],
    }


def render_html(data: ReportData) -> str:
    """The whole report as one HTML document in `data.locale`."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    t = translator(data.locale)
    environment = Environment(
        loader=PackageLoader("bot.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = environment.get_template(TEMPLATE)
    names = ", ".join(c.name for c in data.communities)
    return template.render(
        lang="zh-Hans" if data.locale.startswith("zh") else "en",
        title=t("Cohort report: {communities}", communities=names) if names else t("Cohort report"),
        subtitle=t(
            "The last {days} days, {since} to {until}. Model: {model}.",
            days=t.number(data.days),
            since=t.date(data.since.date()),
            until=t.date(data.generated.date()),
            model=data.model_version or t("none trained yet"),
        ),
        L=labels(t),
        communities=[community_context(c, t) for c in data.communities],
    )
