"""Charts of a report as PNG images, drawn with matplotlib's object API on the Agg canvas.

matplotlib is imported inside the functions, never at module level: the adapters and
the CLI import this module's callers, and a bot or `cohort --help` must not pay
matplotlib's import time. Nothing here touches `pyplot` (no global figure state), so
charts can be drawn from a worker thread (`asyncio.to_thread`) while the bot runs.

Every function takes neutral data (`bot.report.data`) and a `Translator` for the
labels, and returns PNG bytes, or None when there is nothing to draw (the page then
shows a friendly note instead). Labels fall back to a CJK font (`bot.report.fonts`).
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bot.core.stats import Interval
from bot.i18n import Translator
from bot.report import fonts
from bot.report.data import CommunityReport, Coverage, Deliveries, Graph, SegmentRow, Snapshot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bot.core.services.funnel import FunnelReport

DPI = 100
MAX_CHANNELS = 6  # lines drawn; the rest are summed as "other channels"
MAX_BARS = 15
LABEL_CHARS = 38
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
STATUS_COLOURS = {
    "sent": "#59a14f",
    "unreachable": "#edc948",
    "failed": "#e15759",
    "cancelled": "#bab0ac",
    "pending": "#4e79a7",
}


@contextmanager
def _style() -> Iterator[None]:
    import matplotlib

    matplotlib.use("Agg")  # only matters if something imports pyplot later
    rc: Any = {  # matplotlib's stubs want literal keys
        "font.family": fonts.family(),
        "font.size": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titleweight": "bold",
        "axes.titlesize": 11,
        "figure.facecolor": "white",
    }
    with matplotlib.rc_context(rc):
        yield


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        if fonts.cjk_family() is None:  # said once already; not once per glyph
            warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _colour(group: int) -> str:
    return "#9c9c9c" if group < 0 else PALETTE[group % len(PALETTE)]


def _barh(axes: Any, labels: Sequence[str], values: Sequence[float], colour: str) -> None:
    """Horizontal bars, largest on top, value written at the end of each bar."""
    positions = list(range(len(values)))[::-1]
    axes.barh(positions, values, color=colour)
    axes.set_yticks(positions, [_short(label) for label in labels])
    top = max(values) if values else 0
    for y, value in zip(positions, values, strict=True):
        axes.text(value + top * 0.01, y, f"{value:,.0f}", va="center", fontsize=8)
    axes.set_xlim(0, top * 1.12 or 1)


# -- activity ----------------------------------------------------------------------------


def activity(report: CommunityReport, t: Translator) -> bytes | None:
    """Messages per day, one line per busiest channel, the rest summed."""
    if not report.channels or report.messages == 0:
        return None
    with _style():
        figure = _figure(9, 3.4)
        axes = figure.add_subplot()
        shown = report.channels[:MAX_CHANNELS]
        rest = report.channels[MAX_CHANNELS:]
        days: Any = list(report.days)  # matplotlib converts dates; its stubs do not say so
        for index, channel in enumerate(shown):
            axes.plot(
                days,
                channel.counts,
                label=_short("#" + channel.name, 24),
                color=PALETTE[index % len(PALETTE)],
                linewidth=1.6,
            )
        if rest:
            summed = [sum(c.counts[i] for c in rest) for i in range(len(report.days))]
            axes.plot(days, summed, label=t("other channels"), color="#9c9c9c", linestyle="--")
        axes.set_ylabel(t("messages per day"))
        axes.set_ylim(bottom=0)
        axes.legend(loc="upper left", fontsize=8, ncols=min(4, len(shown) + bool(rest)))
        figure.autofmt_xdate()
        return _png(figure)


def heatmap(report: CommunityReport, t: Translator) -> bytes | None:
    """Stored messages per weekday and hour, in the community's time zone."""
    if not any(any(row) for row in report.heatmap):
        return None
    with _style():
        figure = _figure(9, 3.2)
        axes = figure.add_subplot()
        image = axes.imshow(report.heatmap, aspect="auto", cmap="Blues", interpolation="nearest")
        days = t.babel_locale.days["format"]["abbreviated"]
        axes.set_yticks(range(7), [days[i] for i in range(7)])
        axes.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
        axes.set_xlabel(t("hour of day ({timezone})", timezone=report.timezone))
        figure.colorbar(image, ax=axes, label=t("messages"))
        return _png(figure)


# -- who the members are -------------------------------------------------------------------


def segments(rows: Sequence[SegmentRow], t: Translator) -> bytes | None:
    """Members per segment."""
    if not rows:
        return None
    with _style():
        shown = list(rows[:MAX_BARS])
        figure = _figure(9, 0.45 * len(shown) + 1.0)
        axes = figure.add_subplot()
        _barh(axes, [row.name for row in shown], [row.size for row in shown], PALETTE[0])
        axes.set_xlabel(t("members"))
        return _png(figure)


def _layout(graph: Graph) -> dict[int, tuple[float, float]]:
    import networkx as nx

    drawn = nx.Graph()
    drawn.add_nodes_from(range(len(graph.nodes)))
    for source, sink, count in graph.edges:
        previous = drawn.get_edge_data(source, sink, {"weight": 0})["weight"]
        drawn.add_edge(source, sink, weight=previous + count)
    spread = 1.6 / math.sqrt(max(len(graph.nodes), 1))
    positions = nx.spring_layout(drawn, k=spread, weight="weight", seed=7, iterations=100)
    return {int(node): (float(x), float(y)) for node, (x, y) in positions.items()}


def graph(drawing: Graph, t: Translator) -> bytes | None:
    """The top members (size: influence; colour: segment) and who gives whom attention."""
    if not drawing.nodes:
        return None
    with _style():
        positions = _layout(drawing)
        figure = _figure(9, 6.5)
        axes = figure.add_subplot()
        heaviest = max((count for _, _, count in drawing.edges), default=1)
        for source, sink, count in drawing.edges:
            (x1, y1), (x2, y2) = positions[source], positions[sink]
            axes.plot(
                [x1, x2],
                [y1, y2],
                color="#8c8c8c",
                linewidth=0.4 + 2.6 * count / heaviest,
                alpha=0.35,
                zorder=1,
            )
        top = max(node.influence for node in drawing.nodes) or 1.0
        groups: dict[int, str] = {}
        for index, node in enumerate(drawing.nodes):
            x, y = positions[index]
            size = 60 + 740 * node.influence / top
            axes.scatter(
                [x],
                [y],
                s=size,
                color=_colour(node.group),
                edgecolors="white",
                linewidths=0.8,
                zorder=2,
            )
            axes.annotate(
                _short(node.label, 20),
                (x, y),
                xytext=(0, 7 + math.sqrt(size) / 2),
                textcoords="offset points",
                ha="center",
                fontsize=7,
                style="normal" if node.named else "italic",
                zorder=3,
            )
            groups.setdefault(node.group, node.group_label)
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], marker="o", linestyle="", color=_colour(group), label=_short(label, 40))
            for group, label in sorted(groups.items())
        ]
        axes.legend(handles=handles, loc="lower left", fontsize=7, frameon=False)
        axes.set_axis_off()
        axes.margins(0.08)
        return _png(figure)


# -- what they talk about -------------------------------------------------------------------


def topics(terms: Sequence[tuple[str, int]], t: Translator) -> bytes | None:
    """The most used terms of the period."""
    if not terms:
        return None
    with _style():
        figure = _figure(9, 0.32 * len(terms) + 1.0)
        axes = figure.add_subplot()
        _barh(axes, [term for term, _ in terms], [count for _, count in terms], PALETTE[1])
        axes.set_xlabel(t("mentions"))
        return _png(figure)


# -- recommendations and deliveries ---------------------------------------------------------


def _errors(intervals: Sequence[Interval | None]) -> tuple[list[float], list[list[float]]]:
    points = [i.estimate * 100 if i else 0.0 for i in intervals]
    low = [(i.estimate - i.low) * 100 if i else 0.0 for i in intervals]
    high = [(i.high - i.estimate) * 100 if i else 0.0 for i in intervals]
    return points, [low, high]


def funnel(report: FunnelReport, t: Translator) -> bytes | None:
    """Click rate and member conversion per variant, with 95 % intervals."""
    rows = [row for row in report.rows if row.impressions > 0]
    if not rows:
        return None
    with _style():
        figure = _figure(9, 3.4)
        axes = figure.add_subplot()
        width = 0.38
        positions = list(range(len(rows)))
        for offset, (label, intervals, colour) in enumerate(
            (
                (t("click rate"), [row.click_rate for row in rows], PALETTE[0]),
                (t("members who bought"), [row.member_conversion for row in rows], PALETTE[4]),
            )
        ):
            points, errors = _errors(intervals)
            axes.bar(
                [p + (offset - 0.5) * width for p in positions],
                points,
                width,
                yerr=errors,
                capsize=3,
                color=colour,
                label=label,
            )
        axes.set_xticks(positions, [row.variant for row in rows])
        axes.set_ylabel(t("percent (95 % interval)"))
        axes.legend(fontsize=8)
        return _png(figure)


def coverage(shown: Coverage, t: Translator) -> bytes | None:
    """Picks shown per course (the most shown first)."""
    if shown.shown_count == 0:
        return None
    with _style():
        rows = list(shown.shown[:MAX_BARS])
        figure = _figure(9, 0.32 * len(rows) + 1.0)
        axes = figure.add_subplot()
        _barh(axes, [row.title for row in rows], [row.impressions for row in rows], PALETTE[6])
        axes.set_xlabel(t("times shown"))
        return _png(figure)


def deliveries(outcomes: Deliveries, labels: dict[str, str], t: Translator) -> bytes | None:
    """Deliveries by outcome (`labels`: status → its name in the report's language)."""
    if outcomes.total == 0:
        return None
    with _style():
        statuses = [s for s in labels if outcomes.counts.get(s)] + sorted(
            s for s in outcomes.counts if s not in labels
        )
        figure = _figure(9, 2.8)
        axes = figure.add_subplot()
        values = [outcomes.counts.get(status, 0) for status in statuses]
        axes.bar(
            [labels.get(s, s) for s in statuses],
            values,
            color=[STATUS_COLOURS.get(s, "#9c9c9c") for s in statuses],
        )
        for x, value in enumerate(values):
            axes.text(x, value, f"{value:,}", ha="center", va="bottom", fontsize=8)
        axes.set_ylabel(t("messages"))
        return _png(figure)


# -- the chart in chat ----------------------------------------------------------------------


def insights(report: Snapshot, t: Translator) -> bytes | None:
    """One image for `/insights`: messages per day, and the top topics of the period."""
    totals = report.totals
    if not any(totals) and not report.topics:
        return None
    with _style():
        figure = _figure(9, 3.6)
        left, right = figure.subplots(1, 2, width_ratios=(3, 2))
        left.fill_between(report.days, totals, color=PALETTE[0], alpha=0.25)
        left.plot(report.days, totals, color=PALETTE[0], linewidth=1.6)
        left.set_title(t("Messages per day"))
        left.set_ylim(bottom=0)
        left.tick_params(axis="x", labelrotation=30, labelsize=8)
        terms = list(report.topics[:8])
        if terms:
            _barh(right, [term for term, _ in terms], [count for _, count in terms], PALETTE[1])
        else:
            right.set_axis_off()
        right.set_title(t("Top topics"))
        return _png(figure)
